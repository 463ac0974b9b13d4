import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { TbCodes, TbError, type EventResult, type WireEvent } from '@tillbridge/shared';
import { testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import { ForkedHistory, type BatchInput, type BatchOutcome } from '../src/domain/event-applier.js';
import { IngestQueue } from '../src/sync/ingest-queue.js';
import { SUBSCRIBABLE_EVENT_TYPES } from '../src/webhooks/events.js';
import type { SqlDb } from '../src/storage/index.js';
import { silent, testHub, wireSale, type TestHub } from './helpers.js';
import { offlineApproval } from './returns-support.js';
import { appliedRows, expectLedgerHolds, rowsOf } from './applied-rows.js';

/**
 * Exactly once, as a property (DESIGN rules 2 and 9). One or two agents (agent-a at S1, agent-b at
 * S2) hold outboxes of events with consecutive seqs: sales of a few lines, sales the hub refuses
 * (reused receipt, broken body, unknown kind), offline return decisions, completions, cancellations.
 * They reach a real hub (fixed clock) in an arbitrary schedule, as a stop-and-wait agent sends them —
 * each batch from its oldest unacked row on, so at or below the hub's cursor + 1: resent after a lost
 * ack, overlapping, an old batch replayed after later ones, several in one group commit (written as
 * one or batch by batch), through the ingest queue in parts, some rolled back by an injected storage
 * failure. Whatever the schedule:
 * - each answer is what applying each event once in seq order gives (`upTo` the batch's last seq,
 *   `duplicate` for what the hub had, else the outcome of its one application); a failed batch leaves
 *   nothing, and a later batch of its agent in the same commit fails too;
 * - after each commit the cursor is where the model says (never back), the applied events are exactly
 *   seqs 1..cursor, and the `onApplied` observer (the metrics) heard each application once;
 * - at the end every row the apply path writes (sales, lines, cards, movements, inventory, returns,
 *   exceptions, each store's audit entries, feed, webhook messages, applied events, cursors) equals
 *   what a fresh hub holds after applying each event once in seq order; on-hand is the sum of its
 *   movements; each injected failure was counted once.
 * And as rule 9 says: a batch with an unseen event at or below its incarnation's cursor (a gap filled
 * late, a restored or reverted database selling under used seqs) is a forked history — none of it is
 * applied, no failure counted, the rest of its group as usual — and under a new incarnation every
 * event the agent still holds arrives exactly once.
 */

/**
 * Runs per property, for about 10 s on two cores (each run opens a hub or two: a database each on
 * PostgreSQL, hence fewer there).
 */
const RUNS =
  testBackend() === 'postgres'
    ? { direct: 4, queued: 3, forked: 3, restored: 3 }
    : { direct: 14, queued: 10, forked: 10, restored: 10 };

const AGENTS = [
  { agentId: 'agent-a', store: 'S1' },
  { agentId: 'agent-b', store: 'S2' },
] as const;
const AT = '2026-11-27T10:00:00.000Z';
/** Failures injected per run, fewer than the five that set an event aside as `internal_error`. */
const MAX_FAILURES = 4;

// ---------- the agents' outboxes ----------

type Spec =
  | { k: 'sale'; receipt: number; lines: [string, number, number][]; paid: 'none' | 'cash' | 'card' }
  | { k: 'invalid'; receipt: number }
  | { k: 'teleport' }
  | { k: 'decision'; auth: number; receipt: number; line: number; qty: number }
  | { k: 'complete'; auth: number; line: number; qty: number; amount: number }
  | { k: 'cancel'; auth: number };

const qty = fc.constantFrom(0.5, 1, 2);
const spec: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('sale' as const),
      receipt: fc.nat({ max: 3 }),
      lines: fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C'), qty, fc.integer({ min: 1, max: 9 })), {
        minLength: 1,
        maxLength: 3,
      }),
      paid: fc.constantFrom('none' as const, 'cash' as const, 'card' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('invalid' as const), receipt: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('teleport' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('decision' as const),
      auth: fc.nat({ max: 1 }),
      receipt: fc.nat({ max: 1 }),
      line: fc.constantFrom(1, 1, 2),
      qty,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('complete' as const),
      auth: fc.nat({ max: 1 }),
      line: fc.constantFrom(1, 1, 2),
      qty: fc.constantFrom(0.5, 1),
      amount: fc.integer({ min: 0, max: 4 }).map((n) => n * 250),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel' as const), auth: fc.nat({ max: 1 }) }) },
);

/** Event `seq` of agent `agent` as its outbox holds it (receipts and authorizations are the store's own). */
function wire(agent: number, seq: number, s: Spec): WireEvent {
  const { agentId, store } = AGENTS[agent]!;
  const id = `${agentId}-e${seq}`;
  const receipt = (n: number) => `${store}-${n}`;
  const auth = (n: number) => `${store}-q${n}`;
  const event = (kind: string, body: unknown): WireEvent => ({ seq, id, kind, register: 'R1', at: AT, body });
  switch (s.k) {
    case 'sale': {
      const base = wireSale(seq, id, receipt(s.receipt));
      return {
        ...base,
        body: {
          ...(base.body as object),
          lines: s.lines.map(([sku, q, price], i) => ({ line: i + 1, sku, qty: q, unitPrice: price * 100 })),
          tenders: {
            none: [],
            cash: [{ kind: 'cash', amount: 500 }],
            // the card twice (one sale_cards row), its keyed hash shared with the store's other card sales
            card: [
              { kind: 'card', amount: 300, panHash: `h-${store}` },
              { kind: 'card', amount: 200, panHash: `h-${store}` },
            ],
          }[s.paid],
        },
      };
    }
    case 'invalid':
      return { ...wireSale(seq, id, receipt(s.receipt)), body: { receipt: receipt(s.receipt) } };
    case 'teleport':
      return { ...wireSale(seq, id, receipt(0)), kind: 'teleport' };
    case 'decision':
      return event(
        'return.decision',
        offlineApproval(auth(s.auth), receipt(s.receipt), s.qty, { requestId: `q-${id}` }, { line: s.line }),
      );
    case 'complete':
      return event('return.complete', {
        authorization: auth(s.auth),
        requestId: `c-${id}`,
        lines: [{ line: s.line, qty: s.qty }],
        refund: { kind: 'cash', amount: s.amount },
      });
    case 'cancel':
      return event('return.cancel', { authorization: auth(s.auth), requestId: `x-${id}` });
  }
}

/** A return decided offline and completed at once (two rows): with one spec alone, completions seldom apply. */
const decidedAndCompleted: fc.Arbitrary<Spec[]> = fc
  .record({ auth: fc.nat({ max: 1 }), receipt: fc.nat({ max: 1 }), q: fc.constantFrom(0.5, 1) })
  .map(({ auth, receipt, q }) => [
    { k: 'decision', auth, receipt, line: 1, qty: q },
    { k: 'complete', auth, line: 1, qty: q, amount: 100 },
  ]);
const rows = fc.oneof({ weight: 4, arbitrary: spec.map((s) => [s]) }, { weight: 1, arbitrary: decidedAndCompleted });
const outbox = (minLength: number, maxLength: number) =>
  fc.array(rows, { minLength, maxLength }).map((r) => r.flat().slice(0, maxLength));

/** Both agents' outboxes: agent-a's holds at least one event, agent-b's may be empty (one agent). */
const outboxes = fc
  .tuple(outbox(1, 10), outbox(0, 8))
  .map((specs) => specs.map((list, agent) => list.map((s, i) => wire(agent, i + 1, s))));

/** Only sales with receipts of their own: what arrives in any order (a fork) still adds up the same. */
const plainSales = fc
  .tuple(fc.integer({ min: 3, max: 10 }), fc.integer({ min: 0, max: 4 }))
  .map(([a, b]) =>
    [a, b].map((n, agent) =>
      Array.from({ length: n }, (_, i) =>
        wire(agent, i + 1, { k: 'sale', receipt: 100 + i, lines: [['A', 1, 1 + (i % 3)]], paid: 'none' }),
      ),
    ),
  );

// ---------- schedules ----------

/**
 * A storage failure (as a full disk would make) injected into one event new to the hub in a batch:
 * `pick` chooses it, `at` where it fails — storing its sale (a sale the hub stores), or marking it
 * applied (any event, after its effects).
 */
interface Fail {
  pick: number;
  at: 'sale' | 'mark';
}
/**
 * One batch an agent sends: from `back` rows before the hub's cursor + 1 (as the agent stood when it
 * sent it), `len` rows, and maybe a failure.
 */
interface Delivery {
  agent: number;
  back: number;
  len: number;
  fail: Fail | null;
}
const delivery: fc.Arbitrary<Delivery> = fc.record({
  agent: fc.nat({ max: 1 }),
  back: fc.oneof(fc.constant(0), fc.nat({ max: 12 })),
  len: fc.integer({ min: 1, max: 8 }),
  fail: fc.option(fc.record({ pick: fc.nat({ max: 7 }), at: fc.constantFrom('sale' as const, 'mark' as const) }), {
    freq: 5,
  }),
});
/** The batches that reach the hub together (one group commit), and whether it tries writing them as one. */
const step = fc.record({
  deliveries: fc.array(delivery, { minLength: 1, maxLength: 3 }),
  grouped: fc.boolean(),
});

// ---------- the hubs ----------

const open: TestHub[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.cleanup();
});

/** A fresh hub with the agents' stores, and an endpoint that hears every webhook (a message per change). */
function hubWith(): TestHub {
  const t = testHub();
  open.push(t);
  for (const { store } of AGENTS) t.hub.stores.create(store, store);
  t.hub.webhooks.add({ url: 'https://erp.example/hook', events: [...SUBSCRIBABLE_EVENT_TYPES] }, 'test');
  return t;
}

/** Closes a run's hubs now rather than after the test (a property opens many). */
function closeAll(): void {
  for (const t of open.splice(0)) t.cleanup();
}

/**
 * Makes storing a sale, or marking an event applied, fail as a full disk would while its event id is
 * in `tb_fail` with `at` 'sale' or 'mark' (either engine).
 */
function failingWrites(db: SqlDb, engine: string): void {
  db.exec(`CREATE TABLE tb_fail (event_id TEXT PRIMARY KEY, at TEXT NOT NULL)`);
  for (const [table, at] of [
    ['sales', 'sale'],
    ['applied_events', 'mark'],
  ] as const) {
    const failing = `SELECT event_id FROM tb_fail WHERE at = '${at}'`;
    if (engine === 'sqlite') {
      db.exec(
        `CREATE TRIGGER tb_fail_${table} BEFORE INSERT ON ${table} ` +
          `WHEN NEW.event_id IN (${failing}) BEGIN SELECT RAISE(ABORT, 'disk error'); END`,
      );
      continue;
    }
    db.exec(
      `CREATE FUNCTION tb_fail_${table}() RETURNS trigger AS $$
         BEGIN IF NEW.event_id IN (${failing}) THEN RAISE EXCEPTION 'disk error'; END IF; RETURN NEW; END
       $$ LANGUAGE plpgsql`,
    );
    db.exec(
      `CREATE TRIGGER tb_fail_${table} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION tb_fail_${table}()`,
    );
  }
}

/** Injects the failures of the next commit (event id, where), and takes them away after it. */
function injecting(t: TestHub, failing: [string, Fail['at']][]): () => void {
  const put = t.hub.storage.db.prepare(`INSERT INTO tb_fail (event_id, at) VALUES (?, ?)`);
  for (const [id, at] of failing) put.run(id, at);
  return () => t.hub.storage.db.exec(`DELETE FROM tb_fail`);
}

/** The outcome of each event applied once, in seq order, on a fresh hub (one batch an agent); and that hub. */
function reference(events: WireEvent[][]): { t: TestHub; outcome: Map<string, EventResult> } {
  const t = hubWith();
  t.hub.applier.grouped = false;
  const outcome = new Map<string, EventResult>();
  events.forEach((list, agent) => {
    if (list.length === 0) return;
    const { agentId, store } = AGENTS[agent]!;
    const r = t.hub.applier.applyBatch(store, agentId, 'i1', list);
    expect(r.results.map((x) => x.seq)).toEqual(list.map((e) => e.seq));
    list.forEach((e, i) => outcome.set(e.id, r.results[i]!));
  });
  return { t, outcome };
}

/** Everything applying events writes, in a form two hubs compare on (each store's audit entries in order). */
function dump(db: SqlDb): Record<string, unknown[]> {
  const q = rowsOf(db);
  return {
    ...appliedRows(db),
    days: q(`SELECT * FROM register_days ORDER BY store, register, business_day`),
    returns: q(`SELECT * FROM returns ORDER BY 1`),
    returnLines: q(`SELECT * FROM return_lines ORDER BY 1, 2`),
    exceptions: q(
      `SELECT store, register, event_id, kind, code, reason, "authorization", body, created_at, resolved_at
         FROM exceptions ORDER BY store, event_id, code, "authorization", reason`,
    ),
    // the webhook endpoint's entry names its random id
    audit: q(
      `SELECT store, at, actor, action, register, outcome, resource, details, origin FROM audit
         WHERE action NOT LIKE 'webhook%' ORDER BY store, id`,
    ),
    feed: q(`SELECT type, store, business_day, at, recorded_at, data FROM feed ORDER BY store, position`).map((r) => {
      const { id: _random, ...data } = JSON.parse((r as { data: string }).data) as Record<string, unknown>;
      return { ...(r as object), data };
    }),
  };
}

/** The seqs of `agent`'s events the hub applied (incarnation i1), in order. */
function appliedSeqs(t: TestHub, agent: number): number[] {
  return (
    t.hub.storage.db
      .prepare(`SELECT seq FROM applied_events WHERE agent_id = ? AND incarnation = 'i1' ORDER BY seq`)
      .all(AGENTS[agent]!.agentId) as { seq: unknown }[]
  ).map((r) => Number(r.seq));
}

/** Each of `all` (sales of one line of one A) applied once: one sale, line and movement each, on-hand of them all. */
function eachSaleOnce(t: TestHub, all: { e: WireEvent; store: string }[]): void {
  const got = dump(t.hub.storage.db);
  const receipt = (e: WireEvent) => (e.body as { receipt: string }).receipt;
  const pick = (rows: unknown[], ...keys: string[]) =>
    rows.map((r) => keys.map((k) => (r as Record<string, unknown>)[k]));
  const byKey = (x: unknown[], y: unknown[]) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1);
  expect(pick(got.sales!, 'store', 'receipt', 'event_id')).toEqual(
    all.map(({ e, store }) => [store, receipt(e), e.id]).sort(byKey),
  );
  expect(pick(got.lines!, 'store', 'receipt', 'sku', 'qty').map(([s, r, k, q]) => [s, r, k, Number(q)])).toEqual(
    all.map(({ e, store }) => [store, receipt(e), 'A', 1000]).sort(byKey),
  );
  expect(pick(got.movements!, 'store', 'ref', 'delta').map(([s, r, d]) => [s, r, Number(d)])).toEqual(
    all.map(({ e, store }) => [store, receipt(e), -1000]).sort(byKey),
  );
  const stores = [...new Set(all.map((x) => x.store))].sort();
  expect(pick(got.inventory!, 'store', 'sku', 'on_hand').map(([s, k, n]) => [s, k, Number(n)])).toEqual(
    stores.map((s) => [s, 'A', -1000 * all.filter((x) => x.store === s).length]),
  );
  expect(pick(got.applied!, 'event_id', 'seq', 'outcome').map(([id, q, o]) => [id, Number(q), o])).toEqual(
    all.map(({ e }) => [e.id, e.seq, 'applied']).sort(byKey),
  );
  // one message each to the webhook endpoint: the sale, and the stock it moved
  const told = (got.webhooks as { type: string; body: { data: { sourceEventId?: string; ref?: string } } }[]).map(
    (m) => [m.type, m.body.data.sourceEventId ?? m.body.data.ref],
  );
  expect(told.sort(byKey)).toEqual(
    all
      .flatMap(({ e }) => [
        ['inventory.adjusted', receipt(e)],
        ['sale.recorded', e.id],
      ])
      .sort(byKey),
  );
  expectLedgerHolds(t);
  expect(t.hub.auditTrail.verify().ok).toBe(true);
}

// ---------- the model: what each batch must answer ----------

type Expected = { ok: true; upTo: number; results: EventResult[] } | { ok: false; why: 'injected' | 'earlier' };

/**
 * Each agent's cursor as applying each event once in seq order leaves it, what the hub must answer
 * each batch, and the failures it injected (per event id).
 */
class Model {
  readonly cursor: number[];
  readonly failures = new Map<string, number>();
  /** What the hub's `onApplied` observer (its metrics) must have heard: each event's one application. */
  readonly observed: string[] = [];
  private injected = 0;

  constructor(
    readonly events: WireEvent[][],
    private readonly outcome: Map<string, EventResult>,
  ) {
    this.cursor = events.map(() => 0);
  }

  /** The rows `d` sends, from where its agent stands now (its oldest unacknowledged row, or an older one). */
  items(d: Delivery): WireEvent[] {
    const list = this.events[d.agent]!;
    if (list.length === 0) return [];
    const lo = Math.min(list.length, Math.max(1, this.cursor[d.agent]! + 1 - d.back));
    return list.slice(lo - 1, Math.min(list.length, lo - 1 + d.len));
  }

  /** The event new to the hub in `items` that `fail` picks to fail, if there is one and a failure is left. */
  failing(agent: number, items: WireEvent[], fail: Fail | null): WireEvent | undefined {
    if (fail === null || this.injected >= MAX_FAILURES) return undefined;
    const stored = (e: WireEvent) => e.kind === 'sale' && this.outcome.get(e.id)?.outcome === 'applied';
    const fresh = items.filter((e) => e.seq > this.cursor[agent]! && (fail.at === 'mark' || stored(e)));
    const e = fresh[fail.pick % Math.max(1, fresh.length)];
    if (!e) return undefined;
    this.injected++;
    this.failures.set(e.id, (this.failures.get(e.id) ?? 0) + 1);
    return e;
  }

  /** `items` applied: the answer, and the cursor moved. */
  apply(agent: number, items: WireEvent[]): Expected {
    const cursor = this.cursor[agent]!;
    const results = items.map((e) =>
      e.seq <= cursor ? { seq: e.seq, outcome: 'duplicate' as const } : this.outcome.get(e.id)!,
    );
    const upTo = items.at(-1)!.seq;
    this.cursor[agent] = Math.max(cursor, upTo);
    for (const [i, e] of items.entries())
      if (e.seq > cursor) this.observed.push(observation(AGENTS[agent]!.store, e.kind, results[i]!.outcome));
    return { ok: true, upTo, results };
  }
}

type Rule9Answer =
  | { ok: true; upTo: number; results: EventResult[] }
  | { ok: false; fork: { seq: number; eventId: string; applied: number } }
  | { ok: false; why: 'earlier' };

/**
 * DESIGN rules 2 and 9 as they read, for one agent: an event whose id was applied is a duplicate
 * (whatever its seq, the cursor moving up to it); an unseen event at or below its incarnation's
 * cursor is a forked history and none of its batch is applied; a later batch of that incarnation in
 * the same commit is not attempted.
 */
class Rule9 {
  readonly cursor = new Map<string, number>();
  readonly applied = new Map<string, WireEvent>();

  group(batches: { inc: string; items: WireEvent[] }[]): Rule9Answer[] {
    const failed = new Set<string>();
    return batches.map(({ inc, items }): Rule9Answer => {
      if (failed.has(inc)) return { ok: false, why: 'earlier' };
      let c = this.cursor.get(inc) ?? 0;
      const fresh = new Map<string, WireEvent>();
      const results: EventResult[] = [];
      for (const e of items) {
        if (this.applied.has(e.id) || fresh.has(e.id)) {
          results.push({ seq: e.seq, outcome: 'duplicate' });
          c = Math.max(c, e.seq);
          continue;
        }
        if (e.seq <= c) {
          failed.add(inc);
          return { ok: false, fork: { seq: e.seq, eventId: e.id, applied: c } };
        }
        fresh.set(e.id, e);
        results.push({ seq: e.seq, outcome: 'applied' });
        c = e.seq;
      }
      for (const [id, e] of fresh) this.applied.set(id, e);
      this.cursor.set(inc, c);
      return { ok: true, upTo: items.at(-1)!.seq, results };
    });
  }
}

/** The hub's answer, in Rule9's terms. */
function rule9Answer(o: BatchOutcome): Rule9Answer {
  if (o.ok) return { ok: true, ...o.result };
  if (o.error instanceof ForkedHistory) {
    const { seq, eventId, applied } = o.error;
    return { ok: false, fork: { seq, eventId, applied } };
  }
  const e = answered(o);
  if (e.ok || e.why !== 'earlier') throw o.error;
  return { ok: false, why: 'earlier' };
}

/** The hub's answer, in the model's terms. */
function answered(o: BatchOutcome): Expected {
  if (o.ok) return { ok: true, ...o.result };
  const e = o.error;
  if (e instanceof TbError && e.code === TbCodes.STORAGE_BUSY && e.message.includes('earlier batch'))
    return { ok: false, why: 'earlier' };
  if (e instanceof Error && e.message.includes('disk error')) return { ok: false, why: 'injected' };
  throw e;
}

const observation = (store: string, kind: string, outcome: string) => `${store} ${kind} ${outcome}`;

/** What the hub's `onApplied` observer hears, from now on. */
function observer(t: TestHub): string[] {
  const heard: string[] = [];
  t.hub.applier.onApplied((e) => heard.push(observation(e.store, e.kind, e.outcome)));
  return heard;
}

/**
 * After each commit: each cursor where the model says (never back), applied events exactly seqs
 * 1..cursor, and the observer told of each event applied once — never of a rolled-back attempt.
 */
function cursorsHold(t: TestHub, model: Model, before: number[], heard: string[]): void {
  expect(heard).toEqual(model.observed);
  model.cursor.forEach((c, agent) => {
    const at = t.hub.cursors.incarnation(AGENTS[agent]!.agentId, 'i1')?.lastSeq ?? 0;
    expect(at, `cursor of ${AGENTS[agent]!.agentId}`).toBe(c);
    expect(at).toBeGreaterThanOrEqual(before[agent]!);
    expect(appliedSeqs(t, agent)).toEqual(Array.from({ length: c }, (_, i) => i + 1));
  });
}

/** The end of every schedule: the hub holds what the reference hub holds, and what the model counted. */
function sameAsReference(t: TestHub, ref: TestHub, model: Model): void {
  expect(dump(t.hub.storage.db)).toEqual(dump(ref.hub.storage.db));
  expectLedgerHolds(t);
  expect(t.hub.auditTrail.verify().ok).toBe(true);
  // each injected failure counted once against its event, nothing else counted, nothing set aside
  const attempts = t.hub.storage.db
    .prepare(`SELECT event_id, attempts FROM event_attempts ORDER BY event_id`)
    .all()
    .map((r) => {
      const { event_id, attempts } = r as { event_id: string; attempts: unknown };
      return [event_id, Number(attempts)];
    });
  expect(attempts).toEqual([...model.failures].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Sends each agent's rows the hub lacks, as its agent does once nothing fails: everything acked. */
function drain(model: Model): { agent: number; items: WireEvent[] }[] {
  return model.events.flatMap((list, agent) => {
    const items = list.slice(model.cursor[agent] ?? 0);
    return items.length ? [{ agent, items }] : [];
  });
}

const input = (agent: number, items: WireEvent[], incarnation = 'i1'): BatchInput => ({
  ...AGENTS[agent]!,
  incarnation,
  items,
});

// ---------- the properties ----------

describe('applying agents’ event batches: exactly once, whatever the schedule', () => {
  it('gives each group commit the answers and the state of each event applied once in seq order', () => {
    fc.assert(
      fc.property(outboxes, fc.array(step, { maxLength: 8 }), (events, steps) => {
        try {
          const { t: ref, outcome } = reference(events);
          const t = hubWith();
          failingWrites(t.hub.storage.db, t.hub.storage.engine);
          const model = new Model(events, outcome);
          const heard = observer(t);
          /** One group commit of `sent` (in order); `fail` picks an event new to the hub in a batch to fail. */
          const run = (grouped: boolean, sent: { agent: number; items: WireEvent[]; fail: Fail | null }[]) => {
            const before = [...model.cursor];
            // the model, batch by batch in the group's order; a later batch of a failed agent is not attempted
            const failed = new Set<number>();
            const failing: [string, Fail['at']][] = [];
            const expected = sent.map(({ agent, items, fail }): Expected => {
              if (failed.has(agent)) return { ok: false, why: 'earlier' };
              const e = model.failing(agent, items, fail);
              if (!e) return model.apply(agent, items);
              failed.add(agent);
              failing.push([e.id, fail!.at]);
              return { ok: false, why: 'injected' };
            });
            const done = injecting(t, failing);
            t.hub.applier.grouped = grouped;
            const outcomes = t.hub.applier.applyBatches(sent.map((s) => input(s.agent, s.items)));
            done();
            expect(outcomes.map(answered)).toEqual(expected);
            cursorsHold(t, model, before, heard);
          };
          for (const s of steps) {
            // every batch of the group was sent before it commits: from where its agent stood then
            const sent = s.deliveries
              .map((d) => ({ agent: d.agent, items: model.items(d), fail: d.fail }))
              .filter((x) => x.items.length > 0);
            if (sent.length) run(s.grouped, sent);
          }
          const rest = drain(model);
          if (rest.length)
            run(
              true,
              rest.map((r) => ({ ...r, fail: null })),
            );
          sameAsReference(t, ref, model);
        } finally {
          closeAll();
        }
      }),
      { numRuns: RUNS.direct },
    );
  });

  it('answers each batch once through the ingest queue, in parts, as applying each event once does', async () => {
    await fc.assert(
      fc.asyncProperty(
        outboxes,
        fc.array(fc.array(delivery, { minLength: 1, maxLength: 4 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        async (events, steps, maxRows, grouped) => {
          let queue: IngestQueue | undefined;
          try {
            const { t: ref, outcome } = reference(events);
            const t = hubWith();
            failingWrites(t.hub.storage.db, t.hub.storage.engine);
            t.hub.applier.grouped = grouped;
            const q = (queue = new IngestQueue(t.hub.applier, silent, { maxRows }));
            const model = new Model(events, outcome);
            const heard = observer(t);
            /** `sent` submitted in one turn: the queue commits them in flushes of at most maxRows events. */
            const run = async (sent: { agent: number; items: WireEvent[]; fail: Fail | null }[]) => {
              const before = [...model.cursor];
              // a failure only in its agent's last batch of the turn: what a later one answers would depend
              // on which flush it shares with the failed part
              const last = new Map(sent.map((x, i) => [x.agent, i]));
              const failing: [string, Fail['at']][] = [];
              const expected = sent.map(({ agent, items, fail }, i): Expected => {
                const e = last.get(agent) === i ? model.failing(agent, items, fail) : undefined;
                if (!e) return model.apply(agent, items);
                failing.push([e.id, fail!.at]);
                // the parts before the failed one are committed, their events answered as duplicates when resent
                const at = items.indexOf(e);
                for (let from = 0; from + maxRows <= at; from += maxRows)
                  model.apply(agent, items.slice(from, from + maxRows));
                return { ok: false, why: 'injected' };
              });
              const done = injecting(t, failing);
              const answers: BatchOutcome[][] = sent.map(() => []);
              sent.forEach((x, i) => q.submit(input(x.agent, x.items), (o) => answers[i]!.push(o)));
              for (let turn = 0; answers.some((h) => h.length === 0) || q.depth().batches > 0; turn++) {
                if (turn > 10_000) throw new Error('the queue never answered');
                await new Promise((r) => setImmediate(r));
              }
              // a second answer would come on a later turn, if at all
              for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
              done();
              expect(answers.map((h) => h.length)).toEqual(sent.map(() => 1));
              expect(answers.map((h) => answered(h[0]!))).toEqual(expected);
              cursorsHold(t, model, before, heard);
            };
            for (const deliveries of steps) {
              const sent = deliveries
                .map((d) => ({ agent: d.agent, items: model.items(d), fail: d.fail }))
                .filter((x) => x.items.length > 0);
              if (sent.length) await run(sent);
            }
            const rest = drain(model);
            if (rest.length) await run(rest.map((r) => ({ ...r, fail: null })));
            sameAsReference(t, ref, model);
          } finally {
            queue?.close();
            closeAll();
          }
        },
      ),
      { numRuns: RUNS.queued },
    );
  });

  it(
    'takes none of a batch that fills a gap late (a forked history), and the whole outbox once under a new ' +
      'incarnation',
    () => {
      fc.assert(
        fc.property(
          plainSales,
          fc.record({ acked: fc.nat(), gapFrom: fc.nat(), gapTo: fc.nat(), fillTo: fc.nat() }),
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
          fc.constantFrom('alone', 'before', 'after'),
          fc.boolean(),
          (events, cut, chunks, other, grouped) => {
            try {
              const t = hubWith();
              t.hub.applier.grouped = grouped;
              const a = events[0]!;
              const n = a.length;
              // acked 1..acked, then a batch from gapFrom to gapTo that skips at least one row, then the rows skipped
              const acked = cut.acked % (n - 1);
              const gapFrom = acked + 2 + (cut.gapFrom % (n - acked - 1));
              const gapTo = gapFrom + (cut.gapTo % (n - gapFrom + 1));
              const fillTo = acked + 1 + (cut.fillTo % (n - acked));
              const seqs = (from: number, to: number) => a.slice(from - 1, to);
              if (acked) expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', seqs(1, acked)).upTo).toBe(acked);
              // the hub does not refuse a gap by itself (the agent never sends one): the batch is applied
              expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', seqs(gapFrom, gapTo))).toEqual({
                upTo: gapTo,
                results: seqs(gapFrom, gapTo).map((e) => ({ seq: e.seq, outcome: 'applied' })),
              });
              const before = dump(t.hub.storage.db);
              // the rows skipped, sent late: unseen events at or below the cursor — a forked history
              const fill = input(0, seqs(acked + 1, fillTo));
              const b = events[1]!.length ? [input(1, events[1]!)] : [];
              const group = other === 'alone' ? [fill] : other === 'before' ? [...b, fill] : [fill, ...b];
              const outcomes = t.hub.applier.applyBatches(group);
              const forked = outcomes[group.indexOf(fill)]!;
              expect(forked.ok).toBe(false);
              const error = (forked as { error: unknown }).error;
              expect(error).toBeInstanceOf(ForkedHistory);
              expect(error).toMatchObject({ seq: acked + 1, eventId: a[acked]!.id, applied: gapTo });
              // nothing of it applied; the other agent's batch as usual; no failure counted
              for (const o of outcomes) if (o !== forked) expect(o.ok).toBe(true);
              const after = dump(t.hub.storage.db);
              const mine = (rows: unknown[]) =>
                rows.filter((r) => (r as { store?: string; agent_id?: string }).store !== 'S2');
              for (const k of Object.keys(before)) expect(mine(after[k]!), k).toEqual(mine(before[k]!));
              expect(t.hub.storage.db.prepare(`SELECT COUNT(*) AS n FROM event_attempts`).get()).toEqual({ n: 0 });
              // a new incarnation: the agent sends its whole outbox (every row not acked) again, in batches
              const outbox = a.filter((e) => e.seq > acked && (e.seq < gapFrom || e.seq > gapTo));
              for (let i = 0, c = 0; i < outbox.length; c++) {
                const items = outbox.slice(i, i + chunks[c % chunks.length]!);
                i += items.length;
                expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i2', items)).toEqual({
                  upTo: items.at(-1)!.seq,
                  results: items.map((e) => ({ seq: e.seq, outcome: 'applied' })),
                });
              }
              if (other === 'alone' && b.length) expect(t.hub.applier.applyBatches(b)[0]!.ok).toBe(true);
              eachSaleOnce(
                t,
                events.flatMap((list, agent) => list.map((e) => ({ e, store: AGENTS[agent]!.store }))),
              );
              expect(t.hub.cursors.incarnation('agent-a', 'i1')?.lastSeq).toBe(gapTo);
              expect(t.hub.cursors.cursor('agent-a')).toEqual({
                store: 'S1',
                incarnation: outbox.length ? 'i2' : 'i1',
                lastSeq: outbox.length ? outbox.at(-1)!.seq : gapTo,
              });
              expectLedgerHolds(t);
              expect(t.hub.auditTrail.verify().ok).toBe(true);
            } finally {
              closeAll();
            }
          },
        ),
        { numRuns: RUNS.forked },
      );
    },
  );

  it(
    "takes a restored database's new events under a new incarnation, and each event it had once, whenever a " +
      'batch its lost history sent arrives',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 10 }),
          fc.record({ applied: fc.nat(), backup: fc.nat(), oldest: fc.nat(), later: fc.nat({ max: 5 }) }),
          fc.option(
            fc.record({
              back: fc.nat({ max: 3 }),
              len: fc.integer({ min: 1, max: 4 }),
              when: fc.nat({ max: 5 }),
              together: fc.constantFrom('alone', 'first', 'last'),
            }),
          ),
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          (n, cut, stale, chunks, grouped) => {
            try {
              const t = hubWith();
              t.hub.applier.grouped = grouped;
              const model = new Rule9();
              const send = (batches: { inc: string; items: WireEvent[] }[]): Rule9Answer[] => {
                const expected = model.group(batches);
                const outcomes = t.hub.applier.applyBatches(batches.map((b) => input(0, b.items, b.inc)));
                expect(outcomes.map(rule9Answer)).toEqual(expected);
                return expected;
              };
              // the lost history: the hub applied (and acked) 1..k of its n events
              const lost = Array.from({ length: n }, (_, i) => wireSale(i + 1, `agent-a-e${i + 1}`, `S1-${101 + i}`));
              const k = 1 + (cut.applied % n);
              for (let i = 0, c = 0; i < k; c++) {
                const items = lost.slice(i, Math.min(k, i + chunks[c % chunks.length]!));
                i += items.length;
                expect(send([{ inc: 'i1', items }])[0]!.ok).toBe(true);
              }
              // a backup taken when rows o..r were not yet acked, put back; it goes on selling under seqs r+1..
              const r = cut.backup % (k + 1);
              const o = 1 + (cut.oldest % (r + 1));
              const later = Array.from({ length: cut.later }, (_, i) =>
                wireSale(r + 1 + i, `agent-a-x${r + 1 + i}`, `S1-${201 + r + i}`),
              );
              // what the lost history had in flight (from its oldest unacked row), read by the hub at some point
              const from = Math.max(1, k + 1 - (stale?.back ?? 0));
              const inFlight = stale ? lost.slice(from - 1, from - 1 + stale.len) : [];
              let pending = inFlight.length > 0;
              const staleNow = (restored?: { inc: string; items: WireEvent[] }): Rule9Answer | undefined => {
                pending = false;
                const old = { inc: 'i1', items: inFlight };
                if (!restored || stale?.together === 'alone') {
                  send([old]);
                  return restored && send([restored])[0];
                }
                const answers = send(stale?.together === 'first' ? [old, restored] : [restored, old]);
                return answers[stale?.together === 'first' ? 1 : 0];
              };
              if (pending && stale?.when === 0) staleNow();
              // its hello: behind the hub's cursor of i1, it starts a new incarnation at once
              let inc = r + later.length < (model.cursor.get('i1') ?? 0) ? 'i2' : 'i1';
              let outbox = [...lost.slice(o - 1, r), ...later];
              for (let c = 0, turn = 1; outbox.length; c++, turn++) {
                if (turn > 50) throw new Error('the restored agent never drained its outbox');
                const items = outbox.slice(0, chunks[c % chunks.length]);
                const batch = { inc, items };
                const answer = pending && turn >= (stale?.when ?? 0) ? staleNow(batch) : send([batch])[0];
                if (answer?.ok)
                  outbox = outbox.slice(items.length); // the ack deletes the batch's rows
                else if (answer && 'fork' in answer) {
                  // forked: a new incarnation, the whole outbox again (a fork under it would be a bug in the model)
                  expect(inc).toBe('i1');
                  inc = 'i2';
                }
              }
              if (pending) staleNow();
              // each event the hub took, once; the cursors where the rules put them
              eachSaleOnce(
                t,
                [...model.applied.values()].map((e) => ({ e, store: 'S1' })),
              );
              for (const [i, c] of model.cursor) expect(t.hub.cursors.incarnation('agent-a', i)?.lastSeq, i).toBe(c);
              expect(
                t.hub.storage.db
                  .prepare(`SELECT COUNT(*) AS n FROM agent_incarnations WHERE agent_id = 'agent-a'`)
                  .get(),
              ).toEqual({ n: model.cursor.size });
              // what the restored agent had, and what it sold after, all reached the hub
              for (const e of [...lost.slice(0, k), ...later]) expect(model.applied.has(e.id), e.id).toBe(true);
            } finally {
              closeAll();
            }
          },
        ),
        { numRuns: RUNS.restored },
      );
    },
  );
});
