import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createLogger, type WireEvent } from '@tillbridge/shared';
import { initHub } from '../src/hub.js';
import { secretPath } from '../src/auth/secrets.js';
import { createTestDatabase, testBackend } from '@tillbridge/scripts/lib/pg-test-db';
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

export function seedSale(hub: Hub, store: string, receipt: string, qty = 2, sku = 'A'): void {
  if (!hub.stores.get(store)) hub.stores.create(store, store);
  hub.storage.tx(() =>
    hub.saleService.record(
      store,
      'R1',
      'store',
      {
        requestId: `m-${receipt}`,
        receipt,
        at: '2026-11-27T09:00:00Z',
        currency: 'EUR',
        lines: [{ line: 1, sku, qty, unitPrice: 1000 }],
        tenders: [],
      },
      `e-${receipt}`,
    ),
  );
}

/** A sale as an agent sends it in an `events` frame: one unit of SKU A at 1.00 EUR. */
export const wireSale = (seq: number, id: string, receipt: string): WireEvent => ({
  seq,
  id,
  kind: 'sale',
  register: 'R1',
  at: '2026-11-27T10:00:00.000Z',
  body: {
    requestId: `m-${id}`,
    receipt,
    at: '2026-11-27T10:00:00Z',
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 }],
    tenders: [],
  },
});

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
