import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach } from 'vitest';
import {
  createLogger,
  isTbError,
  WIRE_VERSION,
  type DayCloseEventBody,
  type HelloFrame,
  type Tender,
  type WireEvent,
} from '@tillbridge/shared';
import { initHub, startHub, type HubOptions, type RunningHub } from '../src/hub.js';
import { secretPath } from '../src/auth/secrets.js';
import { createTestDatabase, pgUnavailable, testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import { openHub, type Hub } from '../src/hub-services.js';
import type { Clock } from '../src/domain/clock.js';
import type { SqlDb } from '../src/storage/index.js';

export class TestClock implements Clock {
  constructor(public t = Date.parse('2026-11-27T10:00:00Z')) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const silent = createLogger({ name: 'test', level: 'silent' });

export interface TestHub {
  hub: Hub;
  clock: TestClock;
  dir: string;
  cleanup: () => void;
}

/** A real hub database in a temp directory, services wired, with a settable clock. */
export function testHub(): TestHub {
  const dir = mkdtempSync(join(tmpdir(), 'tb-hub-'));
  const clock = new TestClock();
  // TILLBRIDGE_TEST_BACKEND=postgres: the same hub on a database of its own
  const db = testBackend() === 'postgres' ? createTestDatabase() : undefined;
  initHub(dir, silent, clock, db?.url);
  const hub = openHub({ dataDir: dir, database: db?.url, tokenLifetimeSec: 900, log: silent, clock });
  return {
    hub,
    clock,
    dir,
    cleanup: () => {
      hub.close();
      db?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh test hub for each test of the file or describe block it is called in, with `stores`
 * created (id: name) and then `setUp` run, cleaned up after each test. The object it returns reads
 * the current test's.
 */
export function hubForEachTest(stores: Record<string, string> = {}, setUp?: (t: TestHub) => void): TestHub {
  let current: TestHub | undefined;
  beforeEach(() => {
    current = testHub();
    for (const [id, name] of Object.entries(stores)) current.hub.stores.create(id, name);
    setUp?.(current);
  });
  afterEach(() => current?.cleanup());
  const now = (): TestHub => {
    if (!current) throw new Error('the test hub exists only while a test runs');
    return current;
  };
  return {
    get hub() {
      return now().hub;
    },
    get clock() {
      return now().clock;
    },
    get dir() {
      return now().dir;
    },
    cleanup: () => now().cleanup(),
  };
}

/** Two hub processes on one database, as two `openHub` instances here, and what `cleanups` closes. */
export interface HubPair {
  a: Hub;
  b: Hub;
  dirA: string;
  dirB: string;
  clock: TestClock;
}

/**
 * The engines a suite of several hub processes on one database runs on: SQLite, and PostgreSQL unless no server
 * answers — then `suite` says once that its PostgreSQL variant is skipped, and why.
 */
export function hubEngines(suite: string): ('sqlite' | 'postgres')[] {
  const skip = pgUnavailable();
  if (skip) console.warn(`${suite}: the PostgreSQL variant is skipped — ${skip}`);
  return skip ? ['sqlite'] : ['sqlite', 'postgres'];
}

/** Where a test pushes what it must undo (closing, dropping, removing): undone after each test, last first. */
export function cleanupsAfterEach(): (() => void | Promise<void>)[] {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return cleanups;
}

/**
 * On PostgreSQL two data directories (hub.secret copied, as the operator does for a second
 * process) on one database; on SQLite two connections to one file. Their closing is pushed onto
 * `cleanups`.
 */
export function twoHubProcesses(engine: 'sqlite' | 'postgres', cleanups: (() => void | Promise<void>)[]): HubPair {
  const clock = new TestClock();
  const dirA = mkdtempSync(join(tmpdir(), 'tb-hubs-a-'));
  const db = engine === 'postgres' ? createTestDatabase() : undefined;
  initHub(dirA, silent, clock, db?.url);
  const dirB = db ? mkdtempSync(join(tmpdir(), 'tb-hubs-b-')) : dirA;
  if (db) copyFileSync(secretPath(dirA), secretPath(dirB));
  const a = openHub({ dataDir: dirA, database: db?.url, tokenLifetimeSec: 900, log: silent, clock });
  const b = openHub({ dataDir: dirB, database: db?.url, tokenLifetimeSec: 900, log: silent, clock });
  cleanups.push(() => {
    a.close();
    b.close();
    db?.drop();
    rmSync(dirA, { recursive: true, force: true });
    if (dirB !== dirA) rmSync(dirB, { recursive: true, force: true });
  });
  return { a, b, dirA, dirB, clock };
}

/** A sale of one line as `recordSale` records it; what is left out takes the default named. */
export interface SaleSeed {
  receipt: string;
  /** default 2 */
  qty?: number;
  /** default 1000 */
  unitPrice?: number;
  /** default A */
  sku?: string;
  /** default R1 */
  register?: string;
  /** default 2026-11-27T09:00:00Z */
  at?: string;
  /** default none */
  tenders?: Tender[];
  /** default m-STORE-RECEIPT */
  requestId?: string;
  /** default e-STORE-RECEIPT */
  eventId?: string;
}

/** Records a sale of one line in EUR at `store` (which must exist), as its agent sends it. */
export function recordSale(hub: Hub, store: string, sale: SaleSeed): void {
  const { receipt, qty = 2, unitPrice = 1000, sku = 'A', register = 'R1' } = sale;
  hub.storage.tx(() =>
    hub.saleService.record(
      store,
      register,
      'store',
      {
        requestId: sale.requestId ?? `m-${store}-${receipt}`,
        receipt,
        at: sale.at ?? '2026-11-27T09:00:00Z',
        currency: 'EUR',
        lines: [{ line: 1, sku, qty, unitPrice }],
        tenders: sale.tenders ?? [],
      },
      sale.eventId ?? `e-${store}-${receipt}`,
    ),
  );
}

/** `qty` of `sku` at 10.00 EUR sold at `store` (created if need be) as `receipt` (m-RECEIPT, e-RECEIPT). */
export function seedSale(hub: Hub, store: string, receipt: string, qty = 2, sku = 'A'): void {
  if (!hub.stores.get(store)) hub.stores.create(store, store);
  recordSale(hub, store, { receipt, qty, sku, requestId: `m-${receipt}`, eventId: `e-${receipt}` });
}

/** What a `wireSale` may say other than its defaults. */
export interface WireSaleFields {
  /** the unit price, default 100 (1.00 EUR) */
  amount?: number;
  /** default none */
  tenders?: Tender[];
  /** the event's and the sale's time, default 2026-11-27T10:00Z */
  at?: string;
  /** default R1 */
  register?: string;
}

/** Starts the hub of `dataDir` on a free port of 127.0.0.1, silent and on a test clock unless `options` say. */
export function listeningHub(dataDir: string, options: Partial<HubOptions> = {}): Promise<RunningHub> {
  return startHub({ dataDir, host: '127.0.0.1', port: 0, log: silent, clock: new TestClock(), ...options });
}

/** The ids of `n` stores, S1 to Sn, for a test of many stores at once. */
export const storeIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `S${i + 1}`);

/** An access token for `store`'s agent, on an API key made for it. */
export function agentToken(hub: Hub, store: string): Promise<string> {
  const key = hub.credentials.createApiKey(store);
  return hub.tokens.issue(store, hub.credentials.checkApiKey(store, key).keyId);
}

/** A sale as an agent sends it in an `events` frame: one unit of SKU A, at 1.00 EUR unless `fields` say. */
export const wireSale = (seq: number, id: string, receipt: string, fields: WireSaleFields = {}): WireEvent => ({
  seq,
  id,
  kind: 'sale',
  register: fields.register ?? 'R1',
  at: fields.at ?? '2026-11-27T10:00:00.000Z',
  body: {
    requestId: `m-${id}`,
    receipt,
    at: fields.at ?? '2026-11-27T10:00:00Z',
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: fields.amount ?? 100 }],
    tenders: fields.tenders ?? [],
  },
});

/**
 * The hello of `agent` on its database's first connection (incarnation i1, nothing sent yet) speaking this
 * build's protocol, but for what `more` says.
 */
export const wireHello = (agent: string, more: Partial<HelloFrame> = {}): HelloFrame => ({
  t: 'hello',
  v: WIRE_VERSION,
  agent,
  incarnation: 'i1',
  newest: 0,
  ...more,
});

/**
 * A register's day close as its agent sends it: register R1 closes 2026-11-27 at 21:00Z with
 * nothing in it, unless `body` says otherwise; `event` sets the event's register and time (by
 * default the close's).
 */
export function wireDayClose(
  seq: number,
  id: string,
  body: Partial<DayCloseEventBody> = {},
  event: { register?: string; at?: string } = {},
): WireEvent {
  const closedAt = body.closedAt ?? '2026-11-27T21:00:00Z';
  const full: DayCloseEventBody = {
    requestId: `m-${id}`,
    businessDay: '2026-11-27',
    source: 'register',
    closedAt,
    sales: { count: 0, amount: 0 },
    returns: { count: 0, amount: 0 },
    tenders: [],
    receipts: [],
    authorizations: [],
    ...body,
  };
  return { seq, id, kind: 'day.close', register: event.register ?? 'R1', at: event.at ?? closedAt, body: full };
}

/** A completion an agent sends of an authorization the hub never saw (`nope`): one unit, 1.00 EUR cash. */
export const wireUnknownCompletion = (seq: number, id: string): WireEvent => ({
  seq,
  id,
  kind: 'return.complete',
  register: 'R1',
  at: '2026-11-27T10:00:00.000Z',
  body: {
    authorization: 'nope',
    requestId: 'm1',
    lines: [{ line: 1, qty: 1 }],
    refund: { kind: 'cash', amount: 100 },
  },
});

/** Makes storing a sale of receipt POISON fail as a disk error would (a trigger, on either engine). */
export function poisonSalesInsert(db: SqlDb, engine: string): void {
  if (engine === 'sqlite') {
    db.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON sales WHEN NEW.receipt = 'POISON' ` +
        `BEGIN SELECT RAISE(ABORT, 'disk error'); END`,
    );
    return;
  }
  db.exec(
    `CREATE FUNCTION boom() RETURNS trigger AS $$
       BEGIN IF NEW.receipt = 'POISON' THEN RAISE EXCEPTION 'disk error'; END IF; RETURN NEW; END
     $$ LANGUAGE plpgsql`,
  );
  db.exec(`CREATE TRIGGER boom BEFORE INSERT ON sales FOR EACH ROW EXECUTE FUNCTION boom()`);
}

/** The first column of each row (either engine). */
export function column(db: SqlDb, sql: string, ...params: unknown[]): unknown[] {
  return db
    .prepare(sql)
    .all(...params)
    .map((r): unknown => Object.values(r as object)[0]);
}

/** The first column of the first row, or undefined (either engine). */
export function scalar(db: SqlDb, sql: string, ...params: unknown[]): unknown {
  const r = db.prepare(sql).get(...params) as object | undefined;
  return r === undefined ? undefined : Object.values(r)[0];
}

/** A stream that keeps what is written to it (`out`), a terminal if `tty`: a CLI's stdout or stderr in a test. */
export function capturingStream(tty: boolean): { s: NodeJS.WriteStream; out: () => string } {
  let buf = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  (w as { isTTY?: boolean }).isTTY = tty;
  return { s: w, out: () => buf };
}

/** The code a call that throws a TbError refused with; undefined when it did not throw (anything else is thrown). */
export function tbCodeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    if (isTbError(err)) return err.code;
    throw err;
  }
  return undefined;
}
