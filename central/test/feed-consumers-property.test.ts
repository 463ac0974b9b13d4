import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import {
  containsTrackData,
  findCardNumbers,
  isMaskedPan,
  isTbError,
  TbCodes,
  type EventResult,
  type WireEvent,
} from '@tillbridge/shared';
import { testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import { feedCommands } from '../src/cli/commands/feed.js';
import type { FeedEntry, FeedEventType } from '../src/feed/feed.js';
import { feedDayEntries, POSLOG_TYPES } from '../src/feed/poslog-export.js';
import { feedRoutes } from '../src/http/admin/feed.js';
import { httpStatusFor, Router } from '../src/http/router.js';
import type { Hub } from '../src/hub-services.js';
import { wireUseCases } from '../src/usecases/index.js';
import { runCli } from './cli-run.js';
import { tbCodeOf, testHub, twoHubProcesses, type TestClock } from './helpers.js';

/**
 * Model-based property of the ERP feed and its named consumers (docs/erp-feed.md). Two hub processes on one database
 * (two connections to one SQLite file; on PostgreSQL two data directories on one database, TILLBRIDGE_TEST_BACKEND)
 * take turns at a random sequence of business events written through the real paths — sales in agents' batches
 * through the applier (one by one or as a group commit, a receipt used again, a batch resent, an unknown kind),
 * returns asked online and completed, cancelled or lapsed through the agent's events, stock set by an operator,
 * imports of web orders (full card numbers in them) and of stock, a change that rolls back (on PostgreSQL a gap in
 * the positions) — while the fixed clock moves across days (and Berlin's end of summer time) and the default or a
 * store's time zone changes (the other process told as the cluster's bus tells it, cluster.ts `config`); and ERP jobs
 * read: pages after any position with any limit (Feed.read and GET /v1/feed), paged walks of any page sizes with and
 * without filters (store, types, business day), reads after a named consumer (GET /v1/feed?consumer=, `feed tail
 * --consumer`), exports (`feed export --day [--store]`, `feed export --after --to`, the POSLog's `feedDayEntries`);
 * and consumers are acknowledged forward, backward (refused), past the head (refused), rewound (admin only, audited)
 * and forgotten (admin only, audited), through the use case or over HTTP with an admin or an operator token.
 *
 * The model is the list of entries each event must put on the feed (type, store, when, business day in the store's
 * zone at the time, the event's data), the consumers' cursors and the audit entries. After every step:
 * (1) the feed as stored (read by SQL) holds exactly the model's entries, in strictly increasing positions, and what
 *     the step added lies above everything there before (nothing appears below a position already read), each entry
 *     the event's, valid against central/schemas/feed/*.schema.json (ajv), with no card number, track data or hash;
 * (2) every read answers exactly the model's entries after its position (up to its limit, those its filter takes)
 *     and `next` where the docs say, so a paged walk of any page sizes sees each entry once and skips none;
 * (3) a read after a consumer answers what follows its acknowledged position; the consumers, positions, lag and times
 *     are the model's; a position goes back only by a rewind; every rewind and removal is audited, nothing else;
 * (4) an export is exactly its day's (or range's) entries; and a follower reading one page a step, from either
 *     process in turn, has at the end seen every entry once, in order.
 * Left out: day closes, offline decisions, exchanges and exception resolutions (their own tests; they add types, not
 * feed behaviour), webhooks and the AMQP relay (amqp-relay.test.ts), long polling (feed.test.ts), a filtered read's
 * 1,000-row window (runs stay far below it), and concurrent transactions: the storage API is synchronous, so the two
 * processes commit one after the other and "a smaller position never appears later" is checked for that only.
 */

/** Runs per test run: about 3 s on SQLite and 4 s on PostgreSQL on 2 idle cores (two hubs a run, a database each). */
const RUNS = testBackend() === 'postgres' ? 15 : 40;
const STORES = ['S1', 'S2'] as const;
const SKUS = ['A', 'B', 'C'] as const;
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Pacific/Auckland',
  'Asia/Kolkata',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
] as const;
const CONSUMERS = ['erp-sales', 'erp.stock_2', 'amqp:tillbridge.feed'] as const;
/** Where the clock starts: before Berlin's summer time ends, late in a UTC evening, on the last day of a year. */
const STARTS = ['2026-10-24T21:30:00.000Z', '2026-11-27T22:50:00.000Z', '2026-12-31T09:00:00.000Z'] as const;
const TYPES: FeedEventType[] = [
  'sale.recorded',
  'inventory.adjusted',
  'return.authorized',
  'return.denied',
  'return.completed',
  'return.cancelled',
  'return.exception',
];
/** What a register's agent sends: masked at the gateway, the card's keyed hash beside it. */
const MASKED_PAN = '424242******4242';
/** What a web order's file carries: full numbers, masked by the import. */
const FULL_PANS = ['4111111111111111', '5555555555554444'] as const;
const MINUTE = 60_000;

// ---------- what is generated ----------

type PosPick =
  { k: 'entry' | 'gap' | 'consumer' | 'back'; n: number } | { k: 'zero' | 'head' | 'same' } | { k: 'past'; n: number };
type DayPick = { k: 'entry'; n: number } | { k: 'none' };
interface SaleSpec {
  lines: [sku: number, qty: number, price: number][];
  tender: 'none' | 'cash' | 'card';
  /** the register's time: minutes from the hub's clock, written with this UTC offset (minutes) */
  atMin: number;
  offset: number;
  /** under a receipt number the store already used */
  dup: boolean;
}
/** which of the two hub processes takes the step */
interface Via {
  via: 0 | 1;
}
type Http = 'admin' | 'operator' | null;
interface FilterSpec {
  store: number | null;
  types: FeedEventType[];
  day: DayPick | null;
}
type Op = Via &
  (
    | { t: 'sale'; store: number; sales: SaleSpec[]; grouped: boolean; resend: boolean }
    | { t: 'refused'; store: number }
    | { t: 'ask'; pick: number; line: number; qty: number; restock: boolean }
    | { t: 'complete'; pick: number; over: boolean }
    | { t: 'cancel'; pick: number }
    | { t: 'stock'; store: number; sku: number; qty: number }
    | { t: 'importSales'; store: number; sales: SaleSpec[] }
    | { t: 'importStock'; rows: [store: number, sku: number, qty: number][] }
    | { t: 'zone'; scope: number; zone: string | null }
    | { t: 'advance'; ms: number; expire: boolean }
    | { t: 'rollback'; store: number }
    | { t: 'ack'; consumer: number; to: PosPick; rewind: boolean; http: Http }
    | { t: 'forget'; consumer: number; http: Http }
    | { t: 'read'; after: PosPick; limit: number; http: boolean }
    | { t: 'page'; from: PosPick; sizes: number[]; filter: FilterSpec; http: boolean }
    | { t: 'consumerRead'; consumer: number; limit: number; cli: boolean }
    | {
        t: 'export';
        day: DayPick;
        store: number | null;
        pageSize: number;
        /** `feed export --after --to` instead of --day */
        range: [PosPick, PosPick] | null;
      }
  );

const via = fc.constantFrom(0 as const, 1 as const);
const posPick: fc.Arbitrary<PosPick> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('entry' as const, 'gap' as const), n: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('consumer' as const, 'back' as const), n: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('zero' as const, 'head' as const, 'same' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('past' as const), n: fc.integer({ min: 1, max: 3 }) }) },
);
/** Where an ack goes: mostly back from the consumer's position, to an entry or the head; sometimes past it. */
const ackTo: fc.Arbitrary<PosPick> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('back' as const), n: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('entry' as const), n: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('head' as const, 'same' as const, 'zero' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('past' as const), n: fc.integer({ min: 1, max: 3 }) }) },
);
const dayPick: fc.Arbitrary<DayPick> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('entry' as const), n: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'none' as const }) },
);
const saleSpec: fc.Arbitrary<SaleSpec> = fc.record({
  lines: fc.array(
    fc.tuple(fc.nat({ max: 2 }), fc.constantFrom(1, 2, 0.5, 0.25), fc.constantFrom(100, 250, 1999, 4500)),
    { minLength: 1, maxLength: 3 },
  ),
  tender: fc.constantFrom('none' as const, 'cash' as const, 'card' as const),
  atMin: fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: -5, max: 2 }) },
    { weight: 2, arbitrary: fc.integer({ min: -36 * 60, max: 0 }) },
  ),
  offset: fc.constantFrom(0, 0, 60, -300, 330, 840, -660),
  dup: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});
const http: fc.Arbitrary<Http> = fc.constantFrom('admin' as const, 'operator' as const, null);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('sale' as const),
      via,
      store: fc.nat(),
      sales: fc.array(saleSpec, { minLength: 1, maxLength: 3 }),
      grouped: fc.boolean(),
      resend: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('refused' as const), via, store: fc.nat() }) },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('ask' as const),
      via,
      pick: fc.nat(),
      line: fc.nat(),
      qty: fc.constantFrom(0.25, 0.5, 1, 1, 3),
      restock: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('complete' as const), via, pick: fc.nat(), over: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cancel' as const), via, pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('stock' as const),
      via,
      store: fc.nat(),
      sku: fc.nat({ max: 2 }),
      qty: fc.constantFrom(0, 3, 10, 2.5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('importSales' as const),
      via,
      store: fc.nat(),
      sales: fc.array(saleSpec, { minLength: 1, maxLength: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('importStock' as const),
      via,
      rows: fc.array(fc.tuple(fc.nat({ max: 1 }), fc.nat({ max: 2 }), fc.constantFrom(0, 5, 7.5)), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('zone' as const),
      via,
      scope: fc.integer({ min: -1, max: 1 }),
      zone: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ZONES) }, { weight: 1, arbitrary: fc.constant(null) }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      via,
      ms: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 45 }).map((m) => m * MINUTE) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 14 }).map((h) => h * 60 * MINUTE) },
      ),
      expire: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rollback' as const), via, store: fc.nat() }) },
  {
    weight: 7,
    arbitrary: fc.record({
      t: fc.constant('ack' as const),
      via,
      consumer: fc.nat(),
      to: ackTo,
      rewind: fc.boolean(),
      http,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('forget' as const), via, consumer: fc.nat(), http }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('read' as const),
      via,
      after: posPick,
      limit: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) },
        { weight: 1, arbitrary: fc.constant(1000) },
      ),
      http: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('page' as const),
      via,
      from: posPick,
      sizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
      filter: fc.record({
        store: fc.option(fc.nat({ max: 1 }), { freq: 2 }),
        types: fc.oneof(
          { weight: 2, arbitrary: fc.constant<FeedEventType[]>([]) },
          { weight: 1, arbitrary: fc.subarray(TYPES, { minLength: 1, maxLength: 3 }) },
        ),
        day: fc.option(dayPick, { freq: 2 }),
      }),
      http: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('consumerRead' as const),
      via,
      consumer: fc.nat(),
      limit: fc.integer({ min: 1, max: 6 }),
      cli: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('export' as const),
      via,
      day: dayPick,
      store: fc.option(fc.nat({ max: 1 }), { freq: 2 }),
      pageSize: fc.integer({ min: 1, max: 4 }),
      range: fc.option(fc.tuple(posPick, posPick), { freq: 3 }),
    }),
  },
);

// ---------- the model ----------

/** What an event must put on the feed: its type, store, time, business day and (part of) its data. */
interface Want {
  type: FeedEventType;
  store: string | null;
  at: string;
  businessDay: string | null;
  data: Record<string, unknown>;
}
interface MSale {
  store: string;
  receipt: string;
  lines: { line: number; sku: string; qty: number }[];
}
interface MTicket {
  auth: string;
  store: string;
  sale: MSale;
  line: number;
  sku: string;
  approved: number;
  restock: boolean;
  decision: string;
  status: 'reserved' | 'denied' | 'completed' | 'cancelled' | 'expired';
  expiresAt: string | undefined;
  refund: number;
  tenders: string[];
}
interface MConsumer {
  position: number;
  createdAt: string;
  updatedAt: string;
}
interface MAudit {
  actor: string;
  action: string;
  outcome: string;
  resource: string;
  details: Record<string, unknown>;
}
interface Agent {
  seq: number;
  last: WireEvent[] | undefined;
}

class Model {
  readonly entries: FeedEntry[] = [];
  readonly consumers = new Map<string, MConsumer>();
  readonly audits: MAudit[] = [];
  readonly sales: MSale[] = [];
  readonly tickets: MTicket[] = [];
  /** on hand per store/sku, in milli-units */
  readonly onHand = new Map<string, number>();
  readonly agents = new Map<string, Agent>();
  defaultZone = 'UTC';
  readonly zones = new Map<string, string>();
  n = 0;
  /** a follower: reads one page a step, from either process */
  followed = 0;
  readonly seen: FeedEntry[] = [];

  get head(): number {
    return this.entries.at(-1)?.position ?? 0;
  }
  zoneOf(store: string): string {
    return this.zones.get(store) ?? this.defaultZone;
  }
  want(type: FeedEventType, store: string, at: string, data: Record<string, unknown>): Want {
    return { type, store, at, businessDay: dayIn(this.zoneOf(store), at), data };
  }
  agent(store: string): Agent {
    let a = this.agents.get(store);
    if (!a) this.agents.set(store, (a = { seq: 0, last: undefined }));
    return a;
  }
  /** Moves the model's stock; the inventory.adjusted entry that movement writes. */
  move(store: string, sku: string, deltaMilli: number, kind: string, ref: string, at: string): Want {
    const k = `${store}/${sku}`;
    const onHand = (this.onHand.get(k) ?? 0) + deltaMilli;
    this.onHand.set(k, onHand);
    return this.want('inventory.adjusted', store, at, {
      store,
      sku,
      delta: deltaMilli / 1000,
      onHand: onHand / 1000,
      kind,
      ref,
      at,
    });
  }
  position(p: PosPick, consumer?: string): number {
    const at = (n: number): number => this.entries[n % Math.max(1, this.entries.length)]?.position ?? 0;
    const cur = this.consumers.get(consumer ?? [...this.consumers.keys()][0] ?? '')?.position;
    switch (p.k) {
      case 'entry':
        return at(p.n);
      case 'gap':
        return at(p.n) + 1;
      case 'zero':
        return 0;
      case 'head':
        return this.head;
      case 'past':
        return this.head + p.n;
      case 'same':
        return cur ?? this.head;
      case 'consumer':
        return [...this.consumers.values()][p.n % Math.max(1, this.consumers.size)]?.position ?? 0;
      case 'back':
        return Math.max(0, (cur ?? 0) - 1 - (p.n % 3));
    }
  }
  day(p: DayPick): string {
    const days = this.entries.flatMap((e) => (e.businessDay === null ? [] : [e.businessDay]));
    return p.k === 'entry' ? (days[p.n % Math.max(1, days.length)] ?? '2026-11-27') : '2025-02-28';
  }
}

/** The date in `zone` at the instant `iso`, by Intl (not the hub's businessDayOf). */
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function dayIn(zone: string, iso: string): string {
  let f = dayFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year ?? ''}-${p.month ?? ''}-${p.day ?? ''}`;
}

/** `ms` as a register writes it: local time with its UTC offset (minutes), or Z. */
function registerTime(ms: number, offset: number): string {
  if (offset === 0) return new Date(ms).toISOString().replace('.000Z', 'Z');
  const pad = (n: number): string => String(n).padStart(2, '0');
  const a = Math.abs(offset);
  const local = new Date(ms + offset * MINUTE).toISOString().slice(0, 19);
  return `${local}${offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// ---------- the hubs ----------

interface World {
  hubs: [Hub, Hub];
  clock: TestClock;
  urls: [string, string];
  tokens: { admin: string; operator: string };
  actors: { admin: string; operator: string };
}

const DIR = join(import.meta.dirname, '..', 'schemas', 'feed');
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const schemas = new Map<string, ValidateFunction>();
function schema(name: string): ValidateFunction {
  let v = schemas.get(name);
  if (!v) schemas.set(name, (v = ajv.compile(JSON.parse(readFileSync(join(DIR, name), 'utf8')) as object)));
  return v;
}

interface FeedRow {
  position: number | string;
  id: string;
  type: FeedEventType;
  store: string | null;
  business_day: string | null;
  at: string;
  recorded_at: string;
  data: string;
}
/** The feed as stored, by SQL (not through Feed.read). */
function stored(h: Hub): FeedEntry[] {
  return (h.storage.db.prepare('SELECT * FROM feed ORDER BY position').all() as FeedRow[]).map((r) => ({
    position: Number(r.position),
    id: r.id,
    type: r.type,
    store: r.store,
    businessDay: r.business_day,
    at: r.at,
    recordedAt: r.recorded_at,
    data: JSON.parse(r.data) as Record<string, unknown>,
  }));
}

const nowIso = (w: World): string => new Date(w.clock.now()).toISOString();

/** No card data in an entry: no card number written as one, none of the full numbers sent, no track data, no hash. */
function expectNoCardData(e: FeedEntry): void {
  const text = JSON.stringify(e);
  expect(findCardNumbers(text), text).toEqual([]);
  for (const pan of FULL_PANS) expect(text).not.toContain(pan);
  expect(containsTrackData(text)).toBe(false);
  expect(text).not.toContain('panHash');
  const tenders = (e.data.tenders ?? []) as { pan?: string }[];
  for (const t of tenders) if (t.pan !== undefined) expect(isMaskedPan(t.pan), t.pan).toBe(true);
}

/**
 * (1) After a step that writes: the feed holds what it held (nothing new below a position read), then exactly the
 * entries `wants` says, above it, in order (`unordered`: in any order among themselves).
 */
function settle(w: World, m: Model, via: 0 | 1, wants: Want[], unordered = false): void {
  const all = stored(w.hubs[via]);
  const head = m.head;
  expect(all.filter((e) => e.position <= head)).toEqual(m.entries);
  const fresh = all.filter((e) => e.position > head);
  const key = (x: { data: Record<string, unknown> }): string => JSON.stringify(x.data.authorization ?? '');
  const order = <T extends { data: Record<string, unknown> }>(xs: T[]): T[] =>
    unordered ? [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) : xs;
  const got = order(fresh);
  const want = order(wants);
  expect(got.map((e) => `${e.type} ${e.store ?? '-'}`)).toEqual(want.map((x) => `${x.type} ${x.store ?? '-'}`));
  const recordedAt = nowIso(w);
  got.forEach((e, i) => {
    const x = want[i]!;
    expect(e).toMatchObject({ type: x.type, store: x.store, at: x.at, businessDay: x.businessDay, recordedAt });
    expect(e.data).toMatchObject(x.data);
    expect(schema('entry.schema.json')(e), JSON.stringify(schema('entry.schema.json').errors)).toBe(true);
    const data = schema(`${e.type}.schema.json`);
    expect(data(e.data), `${e.type} ${JSON.stringify(data.errors)}`).toBe(true);
    expectNoCardData(e);
  });
  let last = head;
  for (const e of fresh) {
    expect(e.position).toBeGreaterThan(last);
    last = e.position;
  }
  expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  m.entries.push(...fresh);
}

/** (3) The consumers, their audit entries and the head, as the model has them, seen from process `via`. */
function checkState(w: World, m: Model, via: 0 | 1): void {
  const h = w.hubs[via];
  expect(stored(h)).toEqual(m.entries);
  expect(h.erpFeed.head()).toBe(m.head);
  expect(h.erpFeed.consumers()).toEqual(
    [...m.consumers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, c]) => ({ name, position: c.position, lag: Math.max(0, m.head - c.position), ...times(c) })),
  );
  const audits = h.storage.db
    .prepare(`SELECT actor, action, outcome, resource, details FROM audit WHERE action LIKE 'feed.%' ORDER BY id`)
    .all() as (Omit<MAudit, 'details'> & { details: string })[];
  expect(audits.map((a) => ({ ...a, details: JSON.parse(a.details) as unknown }))).toEqual(m.audits);
}
const times = (c: MConsumer): { createdAt: string; updatedAt: string } => ({
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
});

async function call(
  w: World,
  via: 0 | 1,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${w.urls[via]}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

// ---------- the steps that write ----------

/** A sale's lines (unit prices in cents), its total (each line rounded to the cent) and its time as sent and in UTC. */
function saleBody(spec: SaleSpec, now: number) {
  const lines = spec.lines.map(([sku, qty, price], i) => ({ line: i + 1, sku: SKUS[sku]!, qty, unitPrice: price }));
  const total = lines.reduce((s, l) => s + Math.round(l.qty * l.unitPrice), 0);
  const at = registerTime(now + spec.atMin * MINUTE, spec.offset);
  return { lines, total, at, atUtc: new Date(Date.parse(at)).toISOString() };
}

/** A receipt number for a new sale at `store`, or (dup) one the store used. */
function receiptFor(m: Model, store: string, dup: boolean, used: Set<string>): string {
  const own = [...used];
  if (dup && own.length > 0) return own[m.n % own.length]!;
  return `${store}-${++m.n}`;
}

function sales(w: World, m: Model, op: Extract<Op, { t: 'sale' }>): void {
  const store = STORES[op.store % STORES.length]!;
  const agent = m.agent(store);
  const hub = w.hubs[op.via];
  hub.applier.grouped = op.grouped;
  if (op.resend && agent.last) {
    // a batch resent (its ack lost): every event a duplicate, nothing on the feed
    const r = hub.applier.applyBatch(store, `agent-${store}`, 'i1', agent.last);
    expect(r.results.map((x) => x.outcome)).toEqual(agent.last.map(() => 'duplicate'));
    settle(w, m, op.via, []);
    return;
  }
  const now = w.clock.now();
  const used = new Set(m.sales.filter((s) => s.store === store).map((s) => s.receipt));
  const wants: Want[] = [];
  const items = op.sales.map((spec): WireEvent => {
    const seq = ++agent.seq;
    const id = `${store}-e${seq}`;
    const receipt = receiptFor(m, store, spec.dup, used);
    const b = saleBody(spec, now);
    const card = { kind: 'card', amount: b.total, pan: MASKED_PAN, panHash: `h-${store}` };
    const tenders = { none: [], cash: [{ kind: 'cash', amount: b.total }], card: [card] }[spec.tender];
    if (used.has(receipt)) {
      wants.push(refusal(m, store, nowIso(w), { id, kind: 'sale' }, 'duplicate_receipt', null));
    } else {
      used.add(receipt);
      m.sales.push({ store, receipt, lines: b.lines.map((l) => ({ line: l.line, sku: l.sku, qty: l.qty })) });
      wants.push(
        m.want('sale.recorded', store, b.atUtc, {
          store,
          receipt,
          register: 'R1',
          channel: 'store',
          at: b.atUtc,
          currency: 'EUR',
          total: b.total,
          lines: b.lines,
          tenders: tenders.map((t) => ({ kind: t.kind, amount: t.amount, ...('pan' in t ? { pan: t.pan } : {}) })),
          sourceEventId: id,
        }),
      );
      for (const l of b.lines) wants.push(m.move(store, l.sku, -l.qty * 1000, 'sale', receipt, nowIso(w)));
    }
    const body = { requestId: `m-${id}`, receipt, at: b.at, currency: 'EUR', lines: b.lines, tenders };
    return { seq, id, kind: 'sale', register: 'R1', at: b.atUtc, body };
  });
  const r = hub.applier.applyBatch(store, `agent-${store}`, 'i1', items);
  expect(r.upTo).toBe(agent.seq);
  agent.last = items;
  settle(w, m, op.via, wants);
}

/** The return.exception of an event the hub refused (`event`), or of a return kept against the rules (flagged). */
function refusal(
  m: Model,
  store: string,
  at: string,
  event: { id: string; kind: string } | null,
  code: string,
  authorization: string | null,
  kind?: string,
): Want {
  return m.want('return.exception', store, at, {
    store,
    register: 'R1',
    event,
    kind: kind ?? event?.kind,
    code,
    authorization,
    at,
    origin: event ? 'refused' : 'flagged',
  });
}

/** One event of the store's agent through the applier of process `via`: its answer. */
function agentEvent(w: World, m: Model, via: 0 | 1, store: string, kind: string, body: unknown): EventResult {
  const agent = m.agent(store);
  const seq = ++agent.seq;
  const item: WireEvent = { seq, id: `${store}-e${seq}`, kind, register: 'R1', at: nowIso(w), body };
  const r = w.hubs[via].applier.applyBatch(store, `agent-${store}`, 'i1', [item]);
  agent.last = [item];
  return r.results[0]!;
}

function refused(w: World, m: Model, op: Extract<Op, { t: 'refused' }>): void {
  const store = STORES[op.store % STORES.length]!;
  const seq = m.agent(store).seq + 1;
  expect(agentEvent(w, m, op.via, store, 'teleport', {})).toMatchObject({ outcome: 'exception', code: 'unknown_kind' });
  settle(w, m, op.via, [
    refusal(m, store, nowIso(w), { id: `${store}-e${seq}`, kind: 'teleport' }, 'unknown_kind', null),
  ]);
}

function ticketWant(m: Model, type: FeedEventType, t: MTicket, at: string, extra: Record<string, unknown>): Want {
  return m.want(type, t.store, at, {
    authorization: t.auth,
    store: t.store,
    register: 'R1',
    receipt: t.sale.receipt,
    receiptStore: t.sale.store,
    mode: 'online',
    decision: t.decision,
    status: t.status,
    updatedAt: at,
    ...extra,
  });
}

function ask(w: World, m: Model, op: Extract<Op, { t: 'ask' }>): void {
  const sale = m.sales[op.pick % Math.max(1, m.sales.length)];
  if (!sale) return;
  const l = sale.lines[op.line % sale.lines.length]!;
  const auth = `Q${++m.n}`;
  const res = w.hubs[op.via].engine.authorize(sale.store, {
    authorization: auth,
    after: 0,
    register: 'R1',
    requestId: `q-${auth}`,
    receipt: sale.receipt,
    lines: [{ line: l.line, qty: op.qty, disposition: op.restock ? 'restock' : 'damaged' }],
  });
  const t: MTicket = {
    auth,
    store: sale.store,
    sale,
    line: l.line,
    sku: l.sku,
    approved: res.lines[0]?.approvedQty ?? 0,
    restock: op.restock,
    decision: res.decision,
    status: res.decision === 'denied' ? 'denied' : 'reserved',
    expiresAt: res.expiresAt,
    refund: res.refundAmount,
    tenders: res.allowedTenders,
  };
  m.tickets.push(t);
  const at = nowIso(w);
  const type =
    res.decision === 'denied'
      ? 'return.denied'
      : res.decision === 'approved' || res.decision === 'conditional'
        ? 'return.authorized'
        : undefined;
  settle(w, m, op.via, type ? [ticketWant(m, type, t, at, {})] : []);
}

function complete(w: World, m: Model, op: Extract<Op, { t: 'complete' }>): void {
  const open = m.tickets.filter(
    (t) =>
      (t.decision === 'approved' || t.decision === 'conditional') &&
      (t.status === 'reserved' || t.status === 'expired') &&
      t.approved > 0,
  );
  const t = open[op.pick % Math.max(1, open.length)];
  if (!t) return;
  const kind = t.tenders[0] ?? 'cash';
  const res = agentEvent(w, m, op.via, t.store, 'return.complete', {
    authorization: t.auth,
    requestId: `c-${t.auth}`,
    lines: [{ line: t.line, qty: t.approved }],
    refund: { kind, amount: t.refund + (op.over ? 1 : 0) },
  });
  expect(['applied', 'exception']).toContain(res.outcome);
  const at = nowIso(w);
  const wants: Want[] = [];
  if (t.restock) wants.push(m.move(t.store, t.sku, t.approved * 1000, 'return', t.auth, at));
  t.status = 'completed';
  const restocked = t.restock ? [{ line: t.line, sku: t.sku, qty: t.approved }] : [];
  wants.push(ticketWant(m, 'return.completed', t, at, { restocked, exchanged: [], refund: { kind } }));
  if (res.outcome === 'exception') wants.push(refusal(m, t.store, at, null, res.code ?? '', t.auth, 'return.complete'));
  if (op.over) expect(res).toMatchObject({ outcome: 'exception' });
  settle(w, m, op.via, wants);
}

function cancel(w: World, m: Model, op: Extract<Op, { t: 'cancel' }>): void {
  const t = m.tickets[op.pick % Math.max(1, m.tickets.length)];
  if (!t) return;
  const seq = m.agent(t.store).seq + 1;
  const res = agentEvent(w, m, op.via, t.store, 'return.cancel', { authorization: t.auth, requestId: `x-${seq}` });
  const at = nowIso(w);
  if (t.status === 'completed') {
    expect(res).toMatchObject({ outcome: 'exception', code: 'already_completed' });
    const event = { id: `${t.store}-e${seq}`, kind: 'return.cancel' };
    settle(w, m, op.via, [refusal(m, t.store, at, event, 'already_completed', t.auth)]);
    return;
  }
  expect(res.outcome).toBe('applied');
  if (t.status === 'denied' || t.status === 'cancelled') {
    settle(w, m, op.via, []);
    return;
  }
  t.status = 'cancelled';
  settle(w, m, op.via, [ticketWant(m, 'return.cancelled', t, at, { cause: 'register' })]);
}

function stock(w: World, m: Model, op: Extract<Op, { t: 'stock' }>): void {
  const store = STORES[op.store % STORES.length]!;
  const sku = SKUS[op.sku % SKUS.length]!;
  const r = w.hubs[op.via].useCases.inventory.setOnHand('admin:stock', store, sku, op.qty);
  const delta = op.qty * 1000 - (m.onHand.get(`${store}/${sku}`) ?? 0);
  expect(r.delta).toBe(delta / 1000);
  settle(w, m, op.via, delta === 0 ? [] : [m.move(store, sku, delta, 'adjustment', 'admin:stock', nowIso(w))]);
}

async function importSales(w: World, m: Model, op: Extract<Op, { t: 'importSales' }>): Promise<void> {
  const store = STORES[op.store % STORES.length]!;
  const now = w.clock.now();
  const used = new Set(m.sales.filter((s) => s.store === store).map((s) => s.receipt));
  const wants: Want[] = [];
  const file: string[] = [];
  let imported = 0;
  op.sales.forEach((spec, i) => {
    const receipt = receiptFor(m, store, spec.dup, used);
    const b = saleBody(spec, now);
    const pan = FULL_PANS[i % FULL_PANS.length]!;
    const tenders = {
      none: [],
      cash: [{ kind: 'cash', amount: b.total }],
      card: [{ kind: 'card', amount: b.total, pan }],
    }[spec.tender];
    file.push(JSON.stringify({ store, channel: 'web', receipt, at: b.at, currency: 'EUR', lines: b.lines, tenders }));
    if (used.has(receipt)) return; // skipped: that receipt is recorded
    used.add(receipt);
    imported++;
    m.sales.push({ store, receipt, lines: b.lines.map((l) => ({ line: l.line, sku: l.sku, qty: l.qty })) });
    const masked = `${pan.slice(0, 6)}******${pan.slice(-4)}`;
    wants.push(
      m.want('sale.recorded', store, b.atUtc, {
        store,
        receipt,
        register: null,
        channel: 'web',
        at: b.atUtc,
        total: b.total,
        lines: b.lines,
        tenders: tenders.map((t) => ({ kind: t.kind, amount: t.amount, ...('pan' in t ? { pan: masked } : {}) })),
        sourceEventId: null,
      }),
    );
    for (const l of b.lines) wants.push(m.move(store, l.sku, -l.qty * 1000, 'sale', receipt, nowIso(w)));
  });
  const r = await w.hubs[op.via].useCases.imports.sales({
    id: `web-${++m.n}`,
    actor: 'admin:import',
    body: Readable.from([`${file.join('\n')}\n`]),
  });
  expect(r).toMatchObject({ imported });
  settle(w, m, op.via, wants);
}

async function importStock(w: World, m: Model, op: Extract<Op, { t: 'importStock' }>): Promise<void> {
  const id = `stock-${++m.n}`;
  const wants: Want[] = [];
  const csv = ['store,sku,qty'];
  for (const [s, k, qty] of op.rows) {
    const store = STORES[s]!;
    const sku = SKUS[k]!;
    csv.push(`${store},${sku},${qty}`);
    const delta = qty * 1000 - (m.onHand.get(`${store}/${sku}`) ?? 0);
    if (delta !== 0) wants.push(m.move(store, sku, delta, 'adjustment', `import:${id}`, nowIso(w)));
  }
  await w.hubs[op.via].useCases.imports.inventory({
    id,
    actor: 'admin:import',
    body: Readable.from([`${csv.join('\n')}\n`]),
  });
  settle(w, m, op.via, wants);
}

function zone(w: World, m: Model, op: Extract<Op, { t: 'zone' }>): void {
  const store = op.scope < 0 ? undefined : STORES[op.scope];
  const settings = w.hubs[op.via].useCases.settings;
  if (op.zone === null) {
    if (store === undefined) return;
    settings.setSyncSettings('admin:zone', store, {}, { replace: true });
    m.zones.delete(store);
  } else {
    settings.setSyncSettings('admin:zone', store, { timeZone: op.zone }, {});
    if (store === undefined) m.defaultZone = op.zone;
    else m.zones.set(store, op.zone);
  }
  // what the cluster's bus tells the other process (cluster.ts, message `config`)
  w.hubs[op.via === 0 ? 1 : 0].erpFeed.zoneChanged(store ?? 'default');
  settle(w, m, op.via, []);
}

function advance(w: World, m: Model, op: Extract<Op, { t: 'advance' }>): void {
  w.clock.advance(op.ms);
  if (!op.expire) return;
  const now = nowIso(w);
  const due = m.tickets.filter((t) => t.status === 'reserved' && t.expiresAt !== undefined && t.expiresAt <= now);
  expect(w.hubs[op.via].completion.expireDue()).toBe(due.length);
  for (const t of due) t.status = 'expired';
  settle(
    w,
    m,
    op.via,
    due.map((t) => ticketWant(m, 'return.cancelled', t, now, { cause: 'expired' })),
    true,
  );
}

/** A change that rolls back: nothing of it on the feed (on PostgreSQL its positions are a gap). */
function rollback(w: World, m: Model, op: Extract<Op, { t: 'rollback' }>): void {
  const store = STORES[op.store % STORES.length]!;
  const h = w.hubs[op.via];
  const body = {
    requestId: `m-rb-${++m.n}`,
    receipt: `RB-${m.n}`,
    at: nowIso(w),
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 }],
    tenders: [],
  };
  expect(() =>
    h.storage.tx(() => {
      h.saleService.record(store, 'R1', 'store', body, null);
      throw new Error('rolled back');
    }),
  ).toThrow('rolled back');
  settle(w, m, op.via, []);
}

// ---------- consumers ----------

async function ack(w: World, m: Model, op: Extract<Op, { t: 'ack' }>): Promise<void> {
  const name = CONSUMERS[op.consumer % CONSUMERS.length]!;
  const cur = m.consumers.get(name);
  const position = m.position(op.to, name);
  const head = m.head;
  let code: string | undefined;
  if (op.http === 'operator' && op.rewind) code = 'TB_FORBIDDEN';
  else if (position > head) code = 'TB_INVALID';
  else if (cur && position < cur.position && !op.rewind) code = 'TB_CONFLICT';
  const actor = op.http ? w.actors[op.http] : 'admin:direct';
  let answer: unknown;
  if (op.http) {
    const r = await call(w, op.via, w.tokens[op.http], 'POST', `/v1/feed/consumers/${name}/ack`, {
      position,
      rewind: op.rewind,
    });
    expect(r.status).toBe(code ? httpStatusFor(code) : 200);
    if (code) expect(r.body.code).toBe(code);
    answer = r.body;
  } else {
    const feed = w.hubs[op.via].useCases.feed;
    expect(tbCodeOf(() => (answer = feed.ack(actor, name, position, { rewind: op.rewind })))).toBe(code);
  }
  if (code) return;
  const now = nowIso(w);
  const next = { position, createdAt: cur?.createdAt ?? now, updatedAt: now };
  expect(answer).toEqual({ name, position, lag: head - position, ...times(next) });
  if (cur && position < cur.position) {
    m.audits.push({
      actor,
      action: 'feed.rewind',
      outcome: 'rewound',
      resource: `feed-consumer:${name}`,
      details: { from: cur.position, to: position },
    });
  }
  m.consumers.set(name, next);
}

async function forget(w: World, m: Model, op: Extract<Op, { t: 'forget' }>): Promise<void> {
  const name = CONSUMERS[op.consumer % CONSUMERS.length]!;
  const cur = m.consumers.get(name);
  const actor = op.http ? w.actors[op.http] : 'admin:direct';
  if (op.http) {
    const r = await call(w, op.via, w.tokens[op.http], 'DELETE', `/v1/feed/consumers/${name}`);
    if (op.http === 'operator') {
      expect(r).toMatchObject({ status: 403, body: { code: 'TB_FORBIDDEN' } });
      return;
    }
    expect(r).toMatchObject(cur ? { status: 200, body: { removed: name } } : { status: 404 });
  } else {
    expect(w.hubs[op.via].useCases.feed.remove(actor, name)).toBe(cur !== undefined);
  }
  if (!cur) return;
  m.consumers.delete(name);
  m.audits.push({
    actor,
    action: 'feed.consumer.remove',
    outcome: 'removed',
    resource: `feed-consumer:${name}`,
    details: { position: cur.position },
  });
}

// ---------- reads ----------

interface Filter {
  store?: string;
  types?: FeedEventType[];
  day?: string;
}
const takes = (f: Filter) => (e: FeedEntry) =>
  (f.store === undefined || e.store === f.store) &&
  (f.types === undefined || f.types.includes(e.type)) &&
  (f.day === undefined || e.businessDay === f.day);
const filtered = (f: Filter): boolean => f.store !== undefined || f.types !== undefined || f.day !== undefined;

/**
 * (2) What a read after `after` of `limit` answers: the first `limit` entries the filter takes; `next` the last of
 * them when the page is full, else the last entry read past `after` (of that day, with a day), else `after`.
 */
function expectedPage(m: Model, after: number, limit: number, f: Filter): { entries: FeedEntry[]; next: number } {
  const past = m.entries.filter((e) => e.position > after);
  const entries = past.filter(takes(f)).slice(0, limit);
  if (!filtered(f) || entries.length === limit) return { entries, next: entries.at(-1)?.position ?? after };
  const read = past.filter((e) => f.day === undefined || e.businessDay === f.day);
  expect(read.length).toBeLessThanOrEqual(1000); // one read looks at no more (MAX_READ)
  return { entries, next: read.at(-1)?.position ?? after };
}

function query(after: number | undefined, limit: number, f: Filter, consumer?: string): string {
  const q = new URLSearchParams();
  if (after !== undefined) q.set('after', String(after));
  q.set('limit', String(limit));
  if (consumer !== undefined) q.set('consumer', consumer);
  if (f.store !== undefined) q.set('store', f.store);
  if (f.types !== undefined) q.set('type', f.types.join(','));
  if (f.day !== undefined) q.set('day', f.day);
  return `/v1/feed?${q.toString()}`;
}

async function readPage(
  w: World,
  m: Model,
  via: 0 | 1,
  httpRead: boolean,
  after: number,
  limit: number,
  f: Filter,
): Promise<{ entries: FeedEntry[]; next: number }> {
  if (!httpRead) return w.hubs[via].erpFeed.read(after, limit, f);
  const r = await call(w, via, w.tokens.operator, 'GET', query(after, limit, f));
  expect(r.status).toBe(200);
  const { head, ...page } = r.body as unknown as { entries: FeedEntry[]; next: number; head: number };
  expect(head).toBe(m.head);
  return page;
}

async function read(w: World, m: Model, op: Extract<Op, { t: 'read' }>): Promise<void> {
  const after = m.position(op.after);
  expect(await readPage(w, m, op.via, op.http, after, op.limit, {})).toEqual(expectedPage(m, after, op.limit, {}));
}

/** A paged walk from `from`, page sizes in turn, until a page brings nothing new: each entry once, none skipped. */
async function page(w: World, m: Model, op: Extract<Op, { t: 'page' }>): Promise<void> {
  const f: Filter = {};
  if (op.filter.store !== null) f.store = STORES[op.filter.store]!;
  if (op.filter.types.length > 0) f.types = op.filter.types;
  if (op.filter.day !== null) f.day = m.day(op.filter.day);
  const from = m.position(op.from);
  const seen: FeedEntry[] = [];
  let after = from;
  for (let i = 0; ; i++) {
    const size = op.sizes[i % op.sizes.length]!;
    const p = await readPage(w, m, op.via, op.http, after, size, f);
    expect(p).toEqual(expectedPage(m, after, size, f));
    seen.push(...p.entries);
    if (p.next === after) break;
    expect(p.next).toBeGreaterThan(after);
    after = p.next;
    expect(i).toBeLessThan(m.entries.length + 2);
  }
  expect(seen).toEqual(m.entries.filter((e) => e.position > from).filter(takes(f)));
}

async function consumerRead(w: World, m: Model, op: Extract<Op, { t: 'consumerRead' }>): Promise<void> {
  const name = CONSUMERS[op.consumer % CONSUMERS.length]!;
  const want = expectedPage(m, m.consumers.get(name)?.position ?? 0, op.limit, {});
  if (!op.cli) {
    const r = await call(w, op.via, w.tokens.operator, 'GET', query(undefined, op.limit, {}, name));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ...want, head: m.head });
    return;
  }
  const args = ['feed', 'tail', '--consumer', name, '--limit', String(op.limit), '--json'];
  const r = await runCli((ctx) => feedCommands(ctx), w.urls[op.via], w.tokens.operator, args);
  expect(r.code).toBe(0);
  expect(lines(r.stdout)).toEqual(want.entries);
}

const lines = (out: string): FeedEntry[] =>
  out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FeedEntry);

/**
 * (4) `feed export --day` (with or without --store): exactly that day's entries; and the POSLog export's read of a
 * store's day. Or `feed export --after N --to M`: the entries after N up to M.
 */
async function exportDay(w: World, m: Model, op: Extract<Op, { t: 'export' }>): Promise<void> {
  const day = m.day(op.day);
  const store = op.store === null ? undefined : STORES[op.store]!;
  const f: Filter = store ? { store } : {};
  const [after, to] = op.range ? op.range.map((p) => m.position(p)) : [0, m.head];
  const args = op.range ? ['--after', String(after), '--to', String(to)] : ['--day', day];
  const cli = ['feed', 'export', ...args, ...(store ? ['--store', store] : [])];
  const r = await runCli((ctx) => feedCommands(ctx), w.urls[op.via], w.tokens.operator, cli);
  expect(r.code).toBe(0);
  const within = (e: FeedEntry): boolean => e.position > after! && e.position <= to!;
  const want = m.entries.filter(takes(op.range ? f : { ...f, day })).filter(within);
  expect(lines(r.stdout)).toEqual(want);
  expect(r.stderr).toContain(`${want.length} entries exported, up to position ${to!}`);
  const s = store ?? 'S1';
  expect([...feedDayEntries(w.hubs[op.via].erpFeed, s, day, op.pageSize)]).toEqual(
    m.entries.filter(takes({ store: s, day, types: [...POSLOG_TYPES] })),
  );
}

/** The follower: one page of 1–3 entries after what it has seen, from the process of the step. */
function follow(w: World, m: Model, via: 0 | 1, n: number): void {
  const p = w.hubs[via].erpFeed.read(m.followed, 1 + (n % 3));
  for (const e of p.entries) expect(e.position).toBeGreaterThan(m.seen.at(-1)?.position ?? 0);
  m.seen.push(...p.entries);
  m.followed = p.next;
}

// ---------- a run ----------

async function listen(hub: Hub): Promise<{ url: string; close: () => Promise<void> }> {
  const router = new Router();
  const { queries, ...useCases } = wireUseCases(hub);
  feedRoutes(router, { ...useCases, queries });
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

type Step<T extends Op['t']> = (w: World, m: Model, op: Extract<Op, { t: T }>) => void | Promise<void>;
const STEPS: { [T in Op['t']]: Step<T> } = {
  sale: sales,
  refused,
  ask,
  complete,
  cancel,
  stock,
  importSales,
  importStock,
  zone,
  advance,
  rollback,
  ack,
  forget,
  read,
  page,
  consumerRead,
  export: exportDay,
};

async function step(w: World, m: Model, op: Op): Promise<void> {
  await (STEPS[op.t] as Step<Op['t']>)(w, m, op);
}

async function run(start: string, ops: Op[]): Promise<void> {
  const cleanups: (() => void | Promise<void>)[] = [];
  try {
    const pair = twoHubProcesses(testBackend(), cleanups);
    pair.clock.t = Date.parse(start);
    for (const s of STORES) pair.a.stores.create(s, s);
    const admin = pair.a.credentials.createAdminToken('admin', 'ops');
    const operator = pair.a.credentials.createAdminToken('operator', 'erp job');
    const servers = [await listen(pair.a), await listen(pair.b)] as const;
    cleanups.push(
      () => servers[0].close(),
      () => servers[1].close(),
    );
    const w: World = {
      hubs: [pair.a, pair.b],
      clock: pair.clock,
      urls: [servers[0].url, servers[1].url],
      tokens: { admin: admin.secret, operator: operator.secret },
      actors: { admin: `admin:${admin.id}`, operator: `admin:${operator.id}` },
    };
    const m = new Model();
    for (const [i, op] of ops.entries()) {
      await step(w, m, op);
      checkState(w, m, (op.via + i) % 2 === 0 ? 0 : 1);
      follow(w, m, (op.via + i) % 2 === 0 ? 1 : 0, i);
    }
    for (let i = 0; m.followed < m.head; i++) follow(w, m, i % 2 === 0 ? 0 : 1, 2);
    expect(m.seen).toEqual(m.entries); // (4) every entry once, in order
  } finally {
    while (cleanups.length) await cleanups.pop()!();
  }
}

describe('the ERP feed and its consumers against a model (property)', () => {
  it('puts each event on the feed once, in order; reads, pages, consumers and exports answer the model', async () => {
    const ops = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...STARTS), ops, run), { numRuns: RUNS });
  });
});

/**
 * No card data on the feed from another channel either (docs/erp-feed.md: "No entry carries a full card number";
 * docs/security.md: a card number is refused in an identifier and masked in free text such as a tender's kind). A web
 * order imported with a card number typed where it does not belong — as the receipt number, the SKU, or in the
 * tender's kind, bare or grouped by spaces or dashes — is either refused whole (TB_INVALID, nothing applied) or put
 * on the feed without that number.
 *
 * FAILS on this build: the sales import masks a tender's `pan` only (imports/sales-import.ts, checkSaleLine), so
 * `{"receipt": "4111111111111111", …}` puts the number on the feed (sale.recorded's receipt, inventory.adjusted's ref).
 */
const CARD_FIELDS = ['receipt', 'sku', 'kind'] as const;
const CARD_RUNS = 10;

describe('a web order with a card number in the wrong field (property)', () => {
  it('puts no card number on the feed: the import refuses it or the feed carries none', async () => {
    const typed = fc.record({
      field: fc.constantFrom(...CARD_FIELDS),
      pan: fc.constantFrom(...FULL_PANS),
      written: fc.constantFrom('bare' as const, 'spaces' as const, 'dashes' as const),
      prefix: fc.constantFrom('', 'W ', 'card '),
    });
    await fc.assert(
      fc.asyncProperty(typed, async ({ field, pan, written, prefix }) => {
        const t = testHub();
        try {
          t.hub.stores.create('S1', 'One');
          const groups = pan.match(/.{1,4}/g) ?? [];
          const text = prefix + (written === 'bare' ? pan : groups.join(written === 'spaces' ? ' ' : '-'));
          const order = {
            store: 'S1',
            channel: 'web',
            receipt: field === 'receipt' ? text : 'W-1',
            at: '2026-11-27T09:00:00Z',
            currency: 'EUR',
            lines: [{ line: 1, sku: field === 'sku' ? text : 'A', qty: 1, unitPrice: 500 }],
            tenders: [{ kind: field === 'kind' ? text : 'card', amount: 500, pan }],
          };
          const body = Readable.from([`${JSON.stringify(order)}\n`]);
          let code: string | undefined;
          try {
            await t.hub.useCases.imports.sales({ actor: 'admin:import', body });
          } catch (err) {
            if (!isTbError(err)) throw err;
            code = err.code;
          }
          const entries = t.hub.erpFeed.read(0, 1000).entries;
          if (code !== undefined) {
            expect(code).toBe(TbCodes.INVALID);
            expect(entries).toEqual([]);
          }
          for (const e of entries) expectNoCardData(e);
        } finally {
          t.cleanup();
        }
      }),
      { numRuns: CARD_RUNS },
    );
  });
});
