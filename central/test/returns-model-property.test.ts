import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuthorizeRequestBody,
  isTbError,
  ReturnCompleteEventBody,
  shareOf,
  TbCodes,
  type AuthorizeResult,
} from '@tillbridge/shared';
import { Refusal } from '../src/domain/refusal.js';
import { testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import { testHub, type TestHub } from './helpers.js';

/**
 * Model-based property of the hub's returns engine and its inventory ledger (DESIGN rules 4, 5 and 11). On 1–3
 * stores whose receipt numbers collide (X1–X3, 1–3 lines of SKUs A–C each), a random sequence of authorizations (by
 * line or by SKU, through the agent wire schema, sometimes under an authorization id already used), completions
 * (full, partial, above what was approved, over the money, to a tender not allowed), cancellations, manager
 * overrides, the clock moving on (reservations lapsing, expired or not, the return window passing) and receipt
 * look-ups is run against a real SQLite hub and against a small model of what is left to return. After every step:
 * (1) per sale line, completed + unexpired reserved quantity never exceeds what was sold, and it is what the model
 * counts; (2) on hand is the sum of movements; (3) each decision is the one the model predicts line by line, so an
 * approval never takes more than is left and `exceeds_returnable` only refuses what does not fit; (4) an
 * authorization id asked again answers the same and writes nothing; (5) every completed restock line moved on hand
 * by exactly its quantity at the store that completed it (architecture.md rule 5: the returning store); and, at the
 * end of each run, (6) the audit chain verifies. Every ticket's status, decision, exception, refund and full/partial
 * kind match the model, and so do completions' exceptions and the refusals of what cannot be done.
 *
 * Where the hub's documented semantics shape the model: idempotency is by authorization id (the agent derives it from
 * the register's message id); a request id used again under a new authorization is a new request. The answer to an
 * id asked again is its ticket as it stands: once completed, `refundAmount` is what was refunded, and `expiresAt` goes
 * once it no longer holds. A lapsed reservation stops counting at its `expiresAt`, swept by `expireDue` or not. A
 * return flagged as an exception counts against the sale like any other until an operator reverses it (see
 * Model.claimed).
 */

const DAY = 86_400_000;
const SOLD_AT = '2026-11-27T09:00:00.000Z';
const RECEIPTS = ['X1', 'X2', 'X3'] as const;
const SKUS = ['A', 'B', 'C'] as const;
const MANAGER = { id: 'M-1', code: '4711' };
/** A fresh hub per run is most of the time (about 5 s of CPU on 2 cores); fewer on PostgreSQL (a database each). */
const RUNS = testBackend() === 'postgres' ? 15 : 70;

// ---------- what is generated ----------

interface SoldLine {
  line: number;
  sku: string;
  qty: number;
  price: number;
}
interface World {
  /** per store S1…Sn, its receipts */
  stores: { receipt: string; lines: Omit<SoldLine, 'line'>[] }[][];
  overrideAbove: number | null;
  reservationMinutes: number;
}
type Ref = { line: number } | { sku: string };
interface AskLine {
  ref: Ref;
  qty: number;
  restock: boolean;
}
/** A line as generated: by line number, by the SKU of a line of the sale asked about, or by any SKU. */
interface GenLine {
  ref: Ref | { skuOf: number };
  qty: number;
  restock: boolean;
}
/** Which ticket an operation names: mostly one still open (of the kind it applies to), else any, else unknown. */
type Part = 'all' | 'less' | 'none' | 'more';
type Pick = { open: number } | { any: number } | { unknown: true };
type Op =
  | {
      t: 'ask';
      store: number;
      /** a receipt number sold somewhere (an index into every sale), or -1: one never sold */
      receipt: number;
      /** originalStore: none, the store of the sale picked, or any store (S9: one that does not exist) */
      original: { own: true } | { any: number } | null;
      lines: GenLine[];
      /** ask under an authorization id already used (at its own store, or at `store`) */
      again: { pick: number; sameStore: boolean } | null;
      /** reuse the last request id (the hub keys idempotency by authorization id only) */
      sameRequestId: boolean;
      /** a new authorization asking what an earlier ticket asked (receipt, store named, lines), to make them race */
      like: number | null;
    }
  | {
      t: 'complete';
      pick: Pick;
      otherStore: boolean;
      full: boolean;
      /** otherwise, per ticket line: all its approved quantity, one less, none, or one more */
      parts: Part[];
      bySku: boolean;
      refund: 'exact' | 'zero' | 'over';
      kind: 'cash' | 'store_credit' | 'card';
    }
  | { t: 'cancel'; pick: Pick; otherStore: boolean }
  | { t: 'override'; pick: Pick; otherStore: boolean; right: boolean }
  | { t: 'advance'; ms: number; expire: boolean }
  | { t: 'lookup'; store: number; receipt: string };

const soldLine = fc.record({
  sku: fc.constantFrom(...SKUS),
  qty: fc.integer({ min: 1, max: 3 }),
  price: fc.constantFrom(100, 250, 999, 1500),
});
const storeSales = fc.uniqueArray(
  fc.record({ receipt: fc.constantFrom(...RECEIPTS), lines: fc.array(soldLine, { minLength: 1, maxLength: 3 }) }),
  { selector: (s) => s.receipt, minLength: 1, maxLength: 3 },
);
const worldArb: fc.Arbitrary<World> = fc.record({
  stores: fc.array(storeSales, { minLength: 1, maxLength: 3 }),
  overrideAbove: fc.constantFrom(null, 1000),
  reservationMinutes: fc.constantFrom(5, 15, 60),
});
const genLine: fc.Arbitrary<GenLine> = fc.record({
  ref: fc.oneof(
    { arbitrary: fc.record({ line: fc.constantFrom(1, 1, 2, 3) }), weight: 3 },
    { arbitrary: fc.record({ skuOf: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ sku: fc.constantFrom(...SKUS, 'Z') }), weight: 1 },
  ),
  // 0 is not a quantity on the wire: such a request is refused before the engine sees it
  qty: fc.oneof(
    { arbitrary: fc.constant(1), weight: 8 },
    { arbitrary: fc.constant(2), weight: 4 },
    { arbitrary: fc.integer({ min: 3, max: 4 }), weight: 3 },
    { arbitrary: fc.constant(0), weight: 1 },
  ),
  restock: fc.boolean(),
});
const pickArb: fc.Arbitrary<Pick> = fc.oneof(
  { arbitrary: fc.record({ open: fc.nat() }), weight: 8 },
  { arbitrary: fc.record({ any: fc.nat() }), weight: 3 },
  { arbitrary: fc.constant({ unknown: true as const }), weight: 1 },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('ask' as const),
      store: fc.nat(),
      receipt: fc.oneof({ arbitrary: fc.nat(), weight: 15 }, { arbitrary: fc.constant(-1), weight: 1 }),
      original: fc.oneof(
        { arbitrary: fc.constant(null), weight: 6 },
        { arbitrary: fc.constant({ own: true as const }), weight: 2 },
        { arbitrary: fc.record({ any: fc.nat() }), weight: 1 },
      ),
      lines: fc.array(genLine, { minLength: 1, maxLength: 3 }),
      again: fc.oneof(
        { arbitrary: fc.constant(null), weight: 8 },
        { arbitrary: fc.record({ pick: fc.nat(), sameStore: fc.boolean() }), weight: 1 },
      ),
      sameRequestId: fc.boolean(),
      like: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.nat(), weight: 1 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('complete' as const),
      pick: pickArb,
      otherStore: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
      full: fc.boolean(),
      parts: fc.array(
        fc.oneof(
          { arbitrary: fc.constant('all' as const), weight: 4 },
          { arbitrary: fc.constant('less' as const), weight: 3 },
          { arbitrary: fc.constant('none' as const), weight: 2 },
          { arbitrary: fc.constant('more' as const), weight: 1 },
        ),
        { minLength: 1, maxLength: 3 },
      ),
      bySku: fc.boolean(),
      refund: fc.constantFrom('exact' as const, 'exact' as const, 'zero' as const, 'over' as const),
      kind: fc.constantFrom('cash' as const, 'cash' as const, 'store_credit' as const, 'card' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('cancel' as const),
      pick: pickArb,
      otherStore: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('override' as const),
      pick: pickArb,
      otherStore: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
      right: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      ms: fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 40 }).map((m) => m * 60_000), weight: 6 },
        { arbitrary: fc.constantFrom(1, 31).map((d) => d * DAY), weight: 1 },
      ),
      expire: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('lookup' as const),
      store: fc.nat(),
      receipt: fc.constantFrom(...RECEIPTS, 'X9'),
    }),
  },
);

// ---------- the model ----------

interface MSale {
  store: string;
  receipt: string;
  lines: SoldLine[];
}
interface MLine {
  /** as stored: the receipt line, or -(position + 1) for a SKU that matched none */
  line: number;
  sku: string | null;
  approved: number;
  completed: number;
  restock: boolean;
  /** what the approved quantity refunds (minor units; no fees in these policies) */
  amount: number;
}
type Status = 'reserved' | 'denied' | 'completed' | 'cancelled' | 'expired';
interface MTicket {
  auth: string;
  store: string;
  sale: MSale | undefined;
  /** what was asked: the receipt number, the store named as its issuer, the lines */
  receipt: string;
  original: string | undefined;
  ask: AskLine[];
  decision: string;
  status: Status;
  expiresAt: number | null;
  lines: MLine[];
  exception: string | null;
  overridden: boolean;
  /** what the ticket says it refunds: as decided, then what the completion refunded (at most its share) */
  refund: number;
  refunded: number | null;
  /** once completed: full when, with the returns before it that count, every line of the receipt came back */
  kind: 'full' | 'partial' | null;
  /** the answer of the last decision (authorization or accepted override) */
  answer: AuthorizeResult;
  /** nothing happened to the ticket since `answer` */
  untouched: boolean;
}
interface Judged {
  line: number;
  askedSku: string | null;
  approved: number;
  code: string;
  price: number;
}

const refOf = (a: AskLine): { line?: number; sku?: string } =>
  'line' in a.ref ? { line: a.ref.line } : { sku: a.ref.sku };

/** judgeReturn of @tillbridge/shared, restated: what is left of each line, SKUs resolved to lines not named. */
function judge(sale: MSale | undefined, notFound: string, claimed: Map<number, number>, ask: AskLine[]): Judged[] {
  const asked = (a: AskLine): string | null => ('sku' in a.ref ? a.ref.sku : null);
  if (!sale)
    return ask.map((a) => ({
      line: 'line' in a.ref ? a.ref.line : 0,
      askedSku: asked(a),
      approved: 0,
      code: notFound,
      price: 0,
    }));
  const left = (x: SoldLine): number => x.qty - (claimed.get(x.line) ?? 0);
  const named = new Set(ask.flatMap((a) => ('line' in a.ref ? [a.ref.line] : [])));
  const chosen = new Set<number>();
  return ask.map((a) => {
    let s: SoldLine | undefined;
    if ('line' in a.ref) {
      const n = a.ref.line;
      s = sale.lines.find((x) => x.line === n);
    } else {
      const sku = a.ref.sku;
      const c = sale.lines.filter((x) => x.sku === sku && !named.has(x.line) && !chosen.has(x.line));
      s = c.find((x) => left(x) >= a.qty) ?? c[0];
      if (s) chosen.add(s.line);
    }
    if (!s)
      return {
        line: 'line' in a.ref ? a.ref.line : 0,
        askedSku: asked(a),
        approved: 0,
        code: 'line_not_found',
        price: 0,
      };
    if (a.qty > left(s)) return { line: s.line, askedSku: asked(a), approved: 0, code: 'exceeds_returnable', price: 0 };
    return { line: s.line, askedSku: asked(a), approved: a.qty, code: 'ok', price: s.price };
  });
}

class Model {
  readonly tickets = new Map<string, MTicket>();
  readonly order: string[] = [];
  readonly onHand = new Map<string, number>();
  lastRequestId = 'q-0';
  private n = 0;

  constructor(
    readonly world: World,
    readonly stores: string[],
    readonly sales: MSale[],
    readonly policyVersion: number,
  ) {
    for (const s of sales) for (const l of s.lines) this.move(s.store, l.sku, -l.qty);
  }

  freshAuth(): string {
    return `a${++this.n}`;
  }

  move(store: string, sku: string, qty: number): void {
    const k = `${store}/${sku}`;
    this.onHand.set(k, (this.onHand.get(k) ?? 0) + qty);
  }

  /** Sales.resolve: the named store's receipt; else this store's; else the only store that issued it. */
  resolve(receipt: string, at: string, original?: string): { sale?: MSale; ambiguous?: boolean } {
    const get = (store: string) => this.sales.find((s) => s.store === store && s.receipt === receipt);
    if (original !== undefined) {
      const sale = get(original);
      return sale ? { sale } : {};
    }
    const own = get(at);
    if (own) return { sale: own };
    const others = this.sales.filter((s) => s.receipt === receipt);
    if (others.length > 1) return { ambiguous: true };
    return others[0] ? { sale: others[0] } : {};
  }

  /**
   * What counts against each line of `sale` at `now`: completed returns, reservations not lapsed — flagged ones too
   * (returns-repo.ts: a flagged completion's goods came back and its refund was paid; a flagged reservation holds
   * what it approved). `completedOnly`: what came back for a completed return's `full`/`partial`, which counts
   * unflagged returns only (ReturnCompletion.kindOf).
   */
  claimed(sale: MSale, now: number, exclude = '', completedOnly = false): Map<number, number> {
    const out = new Map<number, number>();
    for (const t of this.tickets.values()) {
      if (t.sale !== sale || t.auth === exclude || (completedOnly && t.exception !== null)) continue;
      const held = !completedOnly && t.status === 'reserved' && (t.expiresAt ?? 0) > now;
      const counts = t.status === 'completed' || held;
      if (!counts) continue;
      for (const l of t.lines) {
        if (l.line <= 0) continue;
        out.set(l.line, (out.get(l.line) ?? 0) + (t.status === 'completed' ? l.completed : l.approved));
      }
    }
    return out;
  }

  /** The evaluation of a request (default policy, but for a manager threshold): decision, lines and refund. */
  decide(
    sale: MSale | undefined,
    ambiguous: boolean,
    ask: AskLine[],
    now: number,
    exclude: string,
    overridden: boolean,
  ): { decision: string; lines: Judged[]; refund: number } {
    const claimed = sale ? this.claimed(sale, now, exclude) : new Map<number, number>();
    const lines = judge(sale, ambiguous ? 'receipt_ambiguous' : 'receipt_not_found', claimed, ask);
    if (!sale || !lines.some((l) => l.approved > 0)) return { decision: 'denied', lines, refund: 0 };
    const overrideCodes: string[] = [];
    if ((now - Date.parse(SOLD_AT)) / DAY > 30) overrideCodes.push('outside_window'); // overridable by default
    const refund = lines.reduce((s, l) => s + l.price * l.approved, 0);
    const above = this.world.overrideAbove;
    if (above !== null && refund > above) overrideCodes.push('manager_override_required');
    if (overrideCodes.length > 0 && !overridden) {
      for (const l of lines) if (l.code === 'ok') l.code = overrideCodes[0]!;
      return { decision: 'override_required', lines, refund };
    }
    return { decision: 'approved', lines, refund };
  }
}

/** The lines a register is told, as the hub answers them (ordered by stored line), without their rule codes. */
function shownLines(lines: Judged[]): Record<string, unknown>[] {
  return lines
    .map((l, i) => ({ stored: l.line > 0 ? l.line : -(i + 1), l }))
    .sort((a, b) => a.stored - b.stored)
    .map(({ stored, l }) => {
      const out: Record<string, unknown> =
        l.askedSku === null
          ? { line: stored, approvedQty: l.approved, code: l.code }
          : { line: Math.max(0, stored), sku: l.askedSku, approvedQty: l.approved, code: l.code };
      if (l.approved > 0) out.refund = l.price * l.approved;
      return out;
    });
}
const withoutRules = (lines: AuthorizeResult['lines']): Record<string, unknown>[] =>
  lines.map((l) => {
    const { rules: _rules, ...rest } = l;
    return rest;
  });

// ---------- the hub ----------

/** Everything a refused or repeated request must leave as it was. */
function snapshot(h: TestHub): string {
  const db = h.hub.storage.db;
  const all = (sql: string): unknown[] => db.prepare(sql).all();
  return JSON.stringify([
    all('SELECT * FROM returns ORDER BY authorization'),
    all('SELECT * FROM return_lines ORDER BY authorization, line'),
    all('SELECT store, sku, on_hand FROM inventory ORDER BY store, sku'),
    all('SELECT COUNT(*) AS n FROM movements'),
    all('SELECT COUNT(*) AS n FROM exceptions'),
  ]);
}
const auditCount = (h: TestHub): number =>
  (h.hub.storage.db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;

/** Rule 4 as the architecture states it: completed + reserved (unexpired) ≤ sold, exceptions left out. */
function overReturnedLines(h: TestHub): unknown[] {
  return h.hub.storage.db
    .prepare(
      `SELECT sl.store, sl.receipt, sl.line, sl.qty, u.used FROM sale_lines sl
        JOIN (SELECT r.sale_store, r.receipt, rl.line,
                     SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty
                              WHEN r.status = 'reserved' AND r.expires_at > @now THEN rl.approved_qty
                              ELSE 0 END) AS used
                FROM returns r JOIN return_lines rl ON rl.authorization = r.authorization
               WHERE r.exception_code IS NULL GROUP BY r.sale_store, r.receipt, rl.line) u
          ON u.sale_store = sl.store AND u.receipt = sl.receipt AND u.line = sl.line
        WHERE u.used > sl.qty`,
    )
    .all({ now: new Date(h.clock.now()).toISOString() });
}
function ledgerDrift(h: TestHub): unknown[] {
  return h.hub.storage.db
    .prepare(
      `SELECT i.store, i.sku FROM inventory i WHERE i.on_hand <> (SELECT COALESCE(SUM(delta), 0)
         FROM movements m WHERE m.store = i.store AND m.sku = i.sku)`,
    )
    .all();
}

/** What a refusal says: a Refusal's or a TbError's code, else the error itself. */
function refusalOf(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    if (err instanceof Refusal) return err.code;
    if (isTbError(err)) return err.code;
    throw err;
  }
  return undefined;
}

function setUp(world: World): { h: TestHub; m: Model } {
  const h = testHub();
  const stores = world.stores.map((_, i) => `S${i + 1}`);
  for (const s of stores) h.hub.stores.create(s, s);
  const patch = { managerOverrideAbove: world.overrideAbove, reservationMinutes: world.reservationMinutes };
  const version = h.hub.policies.set(undefined, patch, 'admin:test');
  h.hub.managers.set(MANAGER.id, 'Manager', MANAGER.code);
  const sales: MSale[] = [];
  world.stores.forEach((receipts, i) => {
    const store = stores[i]!;
    for (const r of receipts) {
      const lines = r.lines.map((l, j) => ({ ...l, line: j + 1 }));
      h.hub.storage.tx(() =>
        h.hub.saleService.record(
          store,
          'R1',
          'store',
          {
            requestId: `m-${store}-${r.receipt}`,
            receipt: r.receipt,
            at: SOLD_AT,
            currency: 'EUR',
            lines: lines.map((l) => ({ line: l.line, sku: l.sku, qty: l.qty, unitPrice: l.price })),
            tenders: [],
          },
          `e-${store}-${r.receipt}`,
        ),
      );
      sales.push({ store, receipt: r.receipt, lines });
    }
  });
  return { h, m: new Model(world, stores, sales, version) };
}

const otherThan = (m: Model, store: string): string => m.stores[(m.stores.indexOf(store) + 1) % m.stores.length]!;
/** The ticket `pick` names: `open` among those `fits` (else any), `any` among all; none when there is none. */
function pickTicket(m: Model, pick: Pick, fits: (t: MTicket) => boolean): MTicket | undefined {
  if ('unknown' in pick) return undefined;
  const all = m.order.map((a) => m.tickets.get(a)!);
  const open = all.filter(fits);
  const among = 'open' in pick && open.length > 0 ? open : all;
  const n = 'open' in pick ? pick.open : pick.any;
  return among[n % Math.max(1, among.length)];
}
const completable = (t: MTicket): boolean =>
  (t.decision === 'approved' || t.decision === 'conditional') && (t.status === 'reserved' || t.status === 'expired');

/** The answer to an authorization id asked again: the last decision, as the ticket stands now. */
function expectRepeat(t: MTicket, res: AuthorizeResult): void {
  if (t.untouched) {
    expect(res).toEqual(t.answer);
    return;
  }
  const { expiresAt: _e, reason: _r, refundAmount: _a, ...stable } = t.answer;
  expect(res).toMatchObject(stable);
  expect(res.lines).toEqual(t.answer.lines);
  expect(res.refundAmount).toBe(t.status === 'completed' ? t.refunded : t.answer.refundAmount);
  expect(res.expiresAt).toBe(t.status === 'reserved' ? t.answer.expiresAt : undefined);
}

function ask(h: TestHub, m: Model, op: Extract<Op, { t: 'ask' }>): void {
  const now = h.clock.now();
  const again = op.again && m.order.length > 0 ? m.tickets.get(m.order[op.again.pick % m.order.length]!) : undefined;
  const store = again && op.again?.sameStore ? again.store : m.stores[op.store % m.stores.length]!;
  const auth = again ? again.auth : m.freshAuth();
  const sold = op.receipt < 0 ? undefined : m.sales[op.receipt % m.sales.length]!;
  let receipt = sold?.receipt ?? 'X9';
  let original: string | undefined;
  if (op.original && 'own' in op.original) original = sold?.store ?? 'S9';
  else if (op.original) original = m.stores[op.original.any % (m.stores.length + 1)] ?? 'S9';
  let lines: AskLine[] = op.lines.map((l) => {
    if (!('skuOf' in l.ref)) return { ...l, ref: l.ref };
    const of = sold?.lines[l.ref.skuOf % sold.lines.length];
    return { ...l, ref: { sku: of?.sku ?? 'Z' } };
  });
  const like = op.like === null || again ? undefined : m.tickets.get(m.order[op.like % m.order.length] ?? '');
  if (like) ({ receipt, original, ask: lines } = like);
  const requestId = op.sameRequestId ? m.lastRequestId : `q-${auth}-${m.order.length}`;
  m.lastRequestId = requestId;
  const raw = {
    authorization: auth,
    register: 'R1',
    requestId,
    receipt,
    ...(original !== undefined ? { originalStore: original } : {}),
    lines: lines.map((l) => ({ ...refOf(l), qty: l.qty, disposition: l.restock ? 'restock' : 'damaged' })),
  };
  // what the agent session does first: a body the wire schema refuses never reaches the engine
  const parsed = AuthorizeRequestBody.safeParse(raw);
  if (!parsed.success) {
    // a quantity of 0, or a line number or SKU twice (as the register protocol, since the engine's ticket cannot
    // hold one line twice)
    const keys = raw.lines.map((l) => ('line' in l ? `line:${String(l.line)}` : `sku:${String(l.sku)}`));
    expect(lines.some((l) => l.qty === 0) || new Set(keys).size < keys.length).toBe(true);
    return;
  }
  const before = snapshot(h);
  const audits = auditCount(h);
  if (again) {
    // (4) the same authorization id: the same answer, nothing written; at another store, refused
    if (again.store !== store) {
      expect(refusalOf(() => h.hub.engine.authorize(store, parsed.data))).toBe(TbCodes.FORBIDDEN);
    } else {
      const first = h.hub.engine.authorize(store, parsed.data);
      expectRepeat(again, first);
      expect(h.hub.engine.authorize(store, parsed.data)).toEqual(first);
    }
    expect(snapshot(h)).toBe(before);
    expect(auditCount(h)).toBe(audits);
    return;
  }
  const { sale, ambiguous } = m.resolve(receipt, store, original);
  const want = m.decide(sale, Boolean(ambiguous), lines, now, auth, false);
  const res = h.hub.engine.authorize(store, parsed.data);
  // (3) the decision, line by line, is the model's: never more than is left, refused only what does not fit
  const holds = want.decision !== 'denied';
  expect({
    decision: res.decision,
    lines: withoutRules(res.lines),
    refundAmount: res.refundAmount,
    expiresAt: res.expiresAt,
    sale: res.receipt && `${res.receipt.store}/${res.receipt.receipt}`,
    policyVersion: res.policyVersion,
  }).toEqual({
    decision: want.decision,
    lines: shownLines(want.lines),
    refundAmount: want.refund,
    expiresAt: holds ? new Date(now + m.world.reservationMinutes * 60_000).toISOString() : undefined,
    sale: sale && `${sale.store}/${sale.receipt}`,
    policyVersion: m.policyVersion,
  });
  m.tickets.set(auth, {
    auth,
    store,
    sale,
    receipt,
    original,
    ask: lines,
    decision: want.decision,
    status: holds ? 'reserved' : 'denied',
    expiresAt: holds ? now + m.world.reservationMinutes * 60_000 : null,
    lines: ticketLinesOf(want.lines, lines),
    exception: null,
    overridden: false,
    refund: want.refund,
    refunded: null,
    kind: null,
    answer: res,
    untouched: true,
  });
  m.order.push(auth);
}

/** A ticket's lines as the hub keeps them: ordered by stored line (what a completion's line or SKU finds first). */
function ticketLinesOf(judged: Judged[], ask: AskLine[]): MLine[] {
  return judged
    .map((l, i) => ({
      line: l.line > 0 ? l.line : -(i + 1),
      sku: l.askedSku,
      approved: l.approved,
      completed: 0,
      restock: ask[i]!.restock,
      amount: l.price * l.approved,
    }))
    .sort((x, y) => x.line - y.line);
}

function complete(h: TestHub, m: Model, op: Extract<Op, { t: 'complete' }>): void {
  if (m.order.length === 0 && !('unknown' in op.pick)) return; // nothing asked yet
  const now = h.clock.now();
  const t = pickTicket(m, op.pick, completable);
  const store = t ? (op.otherStore ? otherThan(m, t.store) : t.store) : m.stores[0]!;
  const ref = (l: MLine, qty: number) =>
    (op.bySku || l.line <= 0) && l.sku !== null ? { sku: l.sku, qty } : { line: l.line, qty };
  let lines: { line?: number; sku?: string; qty: number }[] = [];
  if (t && op.full) lines = t.lines.filter((l) => l.approved > 0).map((l) => ref(l, l.approved));
  else if (t)
    lines = t.lines.flatMap((l, i) => {
      const part = op.parts[i % op.parts.length]!;
      const q = { all: l.approved, less: l.approved - 1, none: 0, more: l.approved + 1 }[part];
      return q > 0 ? [ref(l, q)] : [];
    });
  if (lines.length === 0) lines = [{ line: 1, qty: 1 }];
  // the ticket line each completed line names (ReturnCompletion's findLine)
  const rowOf = (l: { line?: number; sku?: string }): MLine | undefined =>
    t?.lines.find((x) => (l.line !== undefined ? x.line === l.line : x.sku === l.sku));
  const done = new Map<MLine, number>();
  for (const l of lines) {
    const row = rowOf(l);
    if (row) done.set(row, (done.get(row) ?? 0) + l.qty); // a row named twice: both together
  }
  let cap = 0;
  for (const [row, q] of done) cap += shareOf(row.amount, Math.min(q, row.approved), row.approved);
  const amount = op.refund === 'exact' ? cap : op.refund === 'zero' ? 0 : cap + 1;
  const body = ReturnCompleteEventBody.parse({
    authorization: t?.auth ?? 'nope',
    requestId: `c-${t?.auth ?? 'nope'}`,
    lines,
    refund: { kind: op.kind, amount },
  });
  const call = () => h.hub.storage.tx(() => h.hub.completion.complete(store, 'R1', body));
  let refusal: string | undefined;
  if (!t) refusal = 'unknown_authorization';
  else if (t.store !== store) refusal = 'wrong_store';
  else if (t.status === 'denied' || t.decision === 'denied' || t.decision === 'override_required')
    refusal = 'not_approved';
  else if (t.status === 'completed') refusal = 'already_completed';
  else if (t.status === 'cancelled') refusal = 'cancelled';
  if (refusal !== undefined || !t) {
    const before = snapshot(h);
    expect(refusalOf(call)).toBe(refusal);
    expect(snapshot(h)).toBe(before);
    return;
  }
  const lapsed = t.status === 'expired' || (t.expiresAt !== null && t.expiresAt <= now);
  const problems: string[] = [];
  const unknownLine = lines.some((l) => !rowOf(l) && l.qty > 0);
  if (unknownLine || [...done].some(([row, q]) => q > row.approved)) problems.push('exceeds_authorized');
  if (!t.answer.allowedTenders.includes(op.kind)) problems.push('tender_not_allowed');
  if (lapsed && t.sale) {
    const claimed = m.claimed(t.sale, now, t.auth);
    const sold = new Map(t.sale.lines.map((l) => [l.line, l.qty]));
    const late = [...done].some(
      ([row, q]) => row.line > 0 && q > (sold.get(row.line) ?? 0) - (claimed.get(row.line) ?? 0),
    );
    if (late) problems.push('over_return');
  }
  if (amount > cap) problems.push('refund_exceeds_authorized');
  expect(call()).toEqual(problems[0] ? { exception: problems[0] } : {});
  // (5) the goods moved at the store that completed the return: restocked lines, by what came back
  for (const [row, q] of done) {
    const sku = t.sale?.lines.find((l) => l.line === row.line)?.sku ?? row.sku ?? undefined;
    if (sku !== undefined && row.restock && q > 0) m.move(t.store, sku, q);
  }
  for (const l of t.lines) l.completed = done.get(l) ?? 0;
  t.status = 'completed';
  t.exception = problems[0] ?? null;
  t.refunded = Math.min(amount, cap);
  t.refund = t.refunded;
  const sale = t.sale;
  const returned = sale && m.claimed(sale, Number.NEGATIVE_INFINITY, '', true);
  t.kind = sale?.lines.every((l) => (returned?.get(l.line) ?? 0) >= l.qty) ? 'full' : 'partial';
  t.untouched = false;
}

function cancel(h: TestHub, m: Model, op: Extract<Op, { t: 'cancel' }>): void {
  if (m.order.length === 0 && !('unknown' in op.pick)) return; // nothing asked yet
  const t = pickTicket(m, op.pick, (x) => x.status === 'reserved' || x.status === 'expired');
  const store = t ? (op.otherStore ? otherThan(m, t.store) : t.store) : m.stores[0]!;
  const call = () =>
    h.hub.storage.tx(() =>
      h.hub.completion.cancel(store, 'R1', { authorization: t?.auth ?? 'nope', requestId: `x-${m.order.length}` }),
    );
  const before = snapshot(h);
  let refusal: string | undefined;
  if (!t) refusal = 'unknown_authorization';
  else if (t.store !== store) refusal = 'wrong_store';
  else if (t.status === 'completed') refusal = 'already_completed';
  if (refusal !== undefined || !t || t.status === 'cancelled' || t.status === 'denied') {
    expect(refusalOf(call)).toBe(refusal);
    expect(snapshot(h)).toBe(before);
    return;
  }
  expect(call()).toEqual({});
  t.status = 'cancelled';
  t.untouched = false;
}

function override(h: TestHub, m: Model, op: Extract<Op, { t: 'override' }>): void {
  if (m.order.length === 0 && !('unknown' in op.pick)) return; // nothing asked yet
  const now = h.clock.now();
  const t = pickTicket(m, op.pick, (x) => x.decision === 'override_required' && x.status === 'reserved');
  const store = t ? (op.otherStore ? otherThan(m, t.store) : t.store) : m.stores[0]!;
  const body = {
    authorization: t?.auth ?? 'nope',
    requestId: `o-${m.order.length}`,
    manager: MANAGER.id,
    code: op.right ? MANAGER.code : '0000',
  };
  const call = () => h.hub.engine.override(store, body);
  const before = snapshot(h);
  if (t?.store !== store) {
    expect(refusalOf(call)).toBe(TbCodes.NOT_FOUND);
    expect(snapshot(h)).toBe(before);
    return;
  }
  if (t.overridden) {
    expectRepeat(t, call()); // a retransmission
    expect(snapshot(h)).toBe(before);
    return;
  }
  if (t.decision !== 'override_required' || t.status !== 'reserved') {
    expect(refusalOf(call)).toBe(TbCodes.AUTHORIZATION_STATE);
    expect(snapshot(h)).toBe(before);
    return;
  }
  if (!op.right) {
    const res = call();
    expect(res.reason).toBe(`manager ${MANAGER.id}: code not accepted`);
    expect(res.decision).toBe('override_required');
    expect(snapshot(h)).toBe(before);
    return;
  }
  // re-judged as overridden against what is left now (its own reservation left out)
  const want = m.decide(t.sale, false, t.ask, now, t.auth, true);
  const res = call();
  const holds = want.decision !== 'denied';
  expect({ decision: res.decision, lines: withoutRules(res.lines), refundAmount: res.refundAmount }).toEqual({
    decision: want.decision,
    lines: shownLines(want.lines),
    refundAmount: want.refund,
  });
  t.decision = want.decision;
  t.refund = want.refund;
  t.status = holds ? 'reserved' : 'denied';
  t.expiresAt = holds ? now + m.world.reservationMinutes * 60_000 : null;
  t.lines = ticketLinesOf(want.lines, t.ask);
  t.overridden = true;
  t.answer = res;
  t.untouched = true;
}

function advance(h: TestHub, m: Model, op: Extract<Op, { t: 'advance' }>): void {
  h.clock.advance(op.ms);
  if (!op.expire) return;
  const now = h.clock.now();
  const due = [...m.tickets.values()].filter((t) => t.status === 'reserved' && (t.expiresAt ?? 0) <= now);
  expect(h.hub.completion.expireDue()).toBe(due.length);
  for (const t of due) {
    t.status = 'expired';
    t.untouched = false;
  }
}

function lookup(h: TestHub, m: Model, op: Extract<Op, { t: 'lookup' }>): void {
  const store = m.stores[op.store % m.stores.length]!;
  const res = h.hub.engine.lookup(store, { receipt: op.receipt });
  const { sale, ambiguous } = m.resolve(op.receipt, store);
  if (!sale) {
    expect({ found: res.found, code: res.code }).toEqual({
      found: false,
      code: ambiguous ? 'receipt_ambiguous' : undefined,
    });
    return;
  }
  const claimed = m.claimed(sale, h.clock.now());
  expect({ store: res.store, lines: res.lines }).toEqual({
    store: sale.store,
    lines: sale.lines.map((l) => ({
      line: l.line,
      sku: l.sku,
      qty: l.qty,
      unitPrice: l.price,
      returnable: Math.max(0, l.qty - (claimed.get(l.line) ?? 0)),
    })),
  });
}

/** The checks after every step: rules 4 and 5, and every ticket and sale line as the model has them. */
function checkInvariants(h: TestHub, m: Model): void {
  expect(overReturnedLines(h)).toEqual([]); // (1)
  expect(ledgerDrift(h)).toEqual([]); // (2)
  const now = h.clock.now();
  const nowIso = new Date(now).toISOString();
  for (const s of m.sales) {
    const hub = h.hub.returnsRepo.claimedByLine({ store: s.store, receipt: s.receipt }, nowIso);
    const model = m.claimed(s, now);
    const units = (x: Map<number, number>, k: number) => (x.get(k) ?? 0) / (x === hub ? 1000 : 1);
    for (const l of s.lines)
      expect([s.store, s.receipt, l.line, units(hub, l.line)]).toEqual([
        s.store,
        s.receipt,
        l.line,
        units(model, l.line),
      ]);
  }
  // (5) on hand, per store and SKU, as the model moved it
  const inv = h.hub.storage.db.prepare('SELECT store, sku, on_hand AS onHand FROM inventory').all() as {
    store: string;
    sku: string;
    onHand: number;
  }[];
  expect(new Map(inv.map((r) => [`${r.store}/${r.sku}`, r.onHand / 1000]))).toEqual(m.onHand);
  const rows = h.hub.storage.db
    .prepare(
      `SELECT authorization, status, decision, exception_code, refund_amount, kind FROM returns
        ORDER BY authorization`,
    )
    .all();
  expect(rows).toEqual(
    [...m.tickets.values()]
      .map((t) => ({
        authorization: t.auth,
        status: t.status,
        decision: t.decision,
        exception_code: t.exception,
        refund_amount: t.refund,
        kind: t.kind,
      }))
      .sort((a, b) => (a.authorization < b.authorization ? -1 : 1)),
  );
}

function run(world: World, ops: Op[]): void {
  const { h, m } = setUp(world);
  try {
    checkInvariants(h, m);
    for (const op of ops) {
      if (op.t === 'ask') ask(h, m, op);
      else if (op.t === 'complete') complete(h, m, op);
      else if (op.t === 'cancel') cancel(h, m, op);
      else if (op.t === 'override') override(h, m, op);
      else if (op.t === 'advance') advance(h, m, op);
      else lookup(h, m, op);
      checkInvariants(h, m);
    }
    expect(h.hub.auditTrail.verify().ok).toBe(true); // (6)
  } finally {
    h.cleanup();
  }
}

describe('the returns engine against a model of what is left to return (property)', () => {
  it('decides, completes, cancels, overrides and lapses as the model says; returns never exceed sales', () => {
    fc.assert(
      fc.property(worldArb, fc.array(opArb, { minLength: 1, maxLength: 25, size: 'max' }), (world, ops) =>
        run(world, ops),
      ),
      { numRuns: RUNS },
    );
  });
});
