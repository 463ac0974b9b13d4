import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crockfordBase32, isTbError, TbCodes } from '@tillbridge/shared';
import { testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import type { KeyState } from '../src/auth/credentials.js';
import { DEFAULT_GATE } from '../src/auth/gate.js';
import { credentialId, newCredential } from '../src/auth/secrets.js';
import { newEnrollmentCode } from '../src/enrollment/code.js';
import { CODE_REFUSED, MAX_ENROLLMENT_TTL_MS, MIN_ENROLLMENT_TTL_MS } from '../src/enrollment/enrollments.js';
import { tbCodeOf, testHub, type TestHub } from './helpers.js';

/**
 * Model-based property of the hub's store credentials over time (docs/security.md "Keys and tokens", docs/install.md
 * "Enrolling a store"): store API keys, the access tokens issued with them, key rotation and its delivery to the
 * agent, revocation and enrollment codes. On a real hub (a SQLite file, or PostgreSQL with
 * TILLBRIDGE_TEST_BACKEND=postgres) with a fixed test clock, a random sequence of these, through the use cases the
 * admin API and the agents' endpoints call, is run against a small model written here:
 * - stores S1–S3 created (S1 first; again: TB_CONFLICT), each with its first key;
 * - `keys rotate` with a grace of 0 ms to 4 days (refused TB_CONFLICT during another grace while its new key works, or
 *   with two keys working);
 * - the rotated-in key delivered as the agent's connection does (`takePendingKey`), then confirmed (`key.ack`) or not
 *   (the agent crashed first); a `key.ack` for any key (another store's, a stale one, one never made);
 * - `keys revoke` of any key (another store's: TB_NOT_FOUND; twice: TB_CONFLICT);
 * - enrollment codes made (a TTL in range or not; for a store that does not exist) and used: as printed or typed in
 *   lower case without dashes, twice, after they expired, malformed, unknown;
 * - `POST /v1/token` with a working key, an ended one, another store's, a mistyped one (checksum), a forged one (a
 *   real key's public id with another secret) or one never made — each from an address of its own, so the per-address
 *   block never applies, while the per-store allowance (10 at once, one more every 30 s) is modelled;
 * - an API key checked (`checkApiKey`), a token sent on an open connection (`refreshToken`, its own store or another);
 * - the clock moved by 1 ms to 5 days, or to the exact instant a key, token, code or allowance changes (±1 ms).
 *
 * After every step, for every key and every store: (1) `keyWorks` and `acceptsKey` are true exactly when the model
 * says the key works and belongs to that store, so another store's key never authenticates a store; (2) a key the hub
 * once said no longer works never works again; (3) `listKeys` gives each key's state (active, pending, expiring,
 * expired, revoked), creation, expiry, revocation, delivery, confirmation and last use as the model has them; (4) the
 * hub keeps a key's text (sealed) exactly while the model says it waits for its agent, and `pendingKey` is the one the
 * model names; (5) every token issued verifies exactly until its expiry and works (verified and its key accepted, as
 * the agents' endpoint checks) exactly while the model says — it dies with its key, and never works again once it did
 * not (the tokens that no longer work: checked again at the end); (6) the enrollment codes are listed (per store,
 * and those still usable) in the states the model has. Each operation's answer is the model's: refusals by code (and
 * for a code that does not work, the one message for every reason, the reason audited), the token's store, key and
 * expiry, the keys an enrollment ended (every key that worked before it, none that did not). At the end of each
 * run: (7) the audit chain verifies, it holds one entry per store created, rotation, revocation, confirmation, code
 * made, used and refused, and token of another store, and no table holds a key's or a code's text.
 *
 * Where the hub's behaviour shapes the model:
 * - A rotation supersedes a key still waiting for its agent: that key's text is forgotten (it ends with the grace),
 *   and the new key is the one delivered (Credentials.pendingKey: the newest waiting key). An agent that stored the
 *   older key and crashed before confirming it is sent the new one, not the older one again (which would leave it
 *   with no working key once the grace ends).
 * - A `key.ack` is accepted only for a key that still works and whose text the hub still keeps.
 * - Keys ended by an enrollment are `revoked` (at that instant).
 * Left out: the gate's per-address limits and audit entries (`gate.test.ts`), connections themselves (their closing on
 * revocation and enrollment: `usecases.test.ts`, `test/e2e/keys.e2e`), scheduled rotations (`credentials.test.ts`),
 * graces too long for an ISO date of four digits (none in the generator), admin tokens. On PostgreSQL the same
 * sequences, fewer of them (a database per run costs more than a file).
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STORES = ['S1', 'S2', 'S3'] as const;
const ACTOR = 'admin:tba_test';
/** testHub's access token lifetime (seconds). */
const TOKEN_SEC = 900;
const { tokenBurst: BURST } = DEFAULT_GATE;
const INTERVAL = DEFAULT_GATE.tokenPeriodMs / DEFAULT_GATE.tokenBurst;
const RUNS = testBackend() === 'postgres' ? 10 : 40; // a fresh hub per run is most of it: about 5 s on SQLite

// ---------- what is generated ----------

/**
 * A key as sent: one made (of the op's store when `own` and it has one; one that works when `live` and there is one),
 * mistyped, forged, or never made.
 */
type KeyPick =
  | { k: 'key'; n: number; own: boolean; live: boolean }
  | { k: 'typo'; n: number }
  | { k: 'forged'; n: number }
  | { k: 'unknown' };
/** A code as typed: one made (one still usable when `usable` and there is one), malformed, or never made. */
type CodePick = { k: 'made'; n: number; typed: boolean; usable: boolean } | { k: 'malformed' } | { k: 'unknown' };
/** Which store an operation is for: one of those created, or (`any`) any of S1–S3. */
interface At {
  s: number;
  any: boolean;
}
type Op =
  | { t: 'store'; s: number }
  | { t: 'rotate'; at: At; graceMs: number }
  | { t: 'deliver'; at: At; ack: boolean }
  | { t: 'confirm'; at: At; key: KeyPick }
  | { t: 'revoke'; at: At; key: KeyPick }
  | { t: 'code'; at: At; ttlMs: number }
  | { t: 'enroll'; code: CodePick }
  /** `times` requests in a row (a reconnection storm: the store's allowance) */
  | { t: 'token'; at: At; key: KeyPick; times: number }
  | { t: 'check'; at: At; key: KeyPick }
  | { t: 'refresh'; n: number; at: At; own: boolean }
  | { t: 'advance'; ms: number }
  | { t: 'boundary'; n: number; offset: -1 | 0 | 1 };

const storeIx = fc.nat({ max: STORES.length - 1 });
const mostly = (p: number): fc.Arbitrary<boolean> =>
  fc.oneof({ arbitrary: fc.constant(true), weight: p }, { arbitrary: fc.constant(false), weight: 1 });
const rarely = (p: number): fc.Arbitrary<boolean> => mostly(p).map((b) => !b);
const atArb: fc.Arbitrary<At> = fc.record({ s: fc.nat(), any: rarely(6) });
const keyPick: fc.Arbitrary<KeyPick> = fc.oneof(
  {
    weight: 14,
    arbitrary: fc.record({ k: fc.constant('key' as const), n: fc.nat(), own: mostly(5), live: mostly(2) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('typo' as const), n: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('forged' as const), n: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'unknown' as const }) },
);
const codePick: fc.Arbitrary<CodePick> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ k: fc.constant('made' as const), n: fc.nat(), typed: fc.boolean(), usable: mostly(2) }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'malformed' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'unknown' as const }) },
);
const graceArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 1000, 60_000, 15 * 60_000, HOUR, DAY, 3 * DAY) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 * DAY }) },
);
const ttlArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(MIN_ENROLLMENT_TTL_MS, 10 * 60_000, HOUR, DAY, MAX_ENROLLMENT_TTL_MS) },
  { weight: 1, arbitrary: fc.constantFrom(0, MIN_ENROLLMENT_TTL_MS - 1, MAX_ENROLLMENT_TTL_MS + 1, 90_000.5) },
);
const advanceArb = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 999 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 120 }).map((s) => s * 1000) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 60 }).map((m) => m * 60_000 + 17) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 48 }).map((h) => h * HOUR) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((d) => d * DAY) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant('store' as const), s: storeIx }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('rotate' as const), at: atArb, graceMs: graceArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('deliver' as const), at: atArb, ack: mostly(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('confirm' as const), at: atArb, key: keyPick }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('revoke' as const), at: atArb, key: keyPick }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('code' as const), at: atArb, ttlMs: ttlArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('enroll' as const), code: codePick }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('token' as const),
      at: atArb,
      key: keyPick,
      times: fc.oneof(
        { arbitrary: fc.constant(1), weight: 8 },
        { arbitrary: fc.integer({ min: 2, max: 12 }), weight: 1 },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('check' as const), at: atArb, key: keyPick }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('refresh' as const), n: fc.nat(), at: atArb, own: mostly(2) }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: advanceArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('boundary' as const),
      n: fc.nat(),
      offset: fc.constantFrom(-1 as const, 0 as const, 0 as const, 1 as const),
    }),
  },
);

// ---------- the model ----------

interface MKey {
  id: string;
  store: string;
  secret: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** the hub keeps its text (sealed) for its agent */
  sealed: boolean;
  deliveredAt: number | null;
  confirmedAt: number | null;
  lastUsedAt: number | null;
}
interface MToken {
  token: string;
  store: string;
  kid: string;
  /** epoch ms: whole seconds, the JWT's exp */
  exp: number;
}
interface MCode {
  id: string;
  code: string;
  store: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedFrom: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A key is revoked, expired (its expiry reached), expiring, pending (waiting for its agent) or active. */
function stateOf(k: MKey, now: number): KeyState {
  if (k.revokedAt !== null) return 'revoked';
  if (k.expiresAt !== null && k.expiresAt <= now) return 'expired';
  if (k.expiresAt !== null) return 'expiring';
  return k.sealed ? 'pending' : 'active';
}
const works = (k: MKey, now: number): boolean => !['revoked', 'expired'].includes(stateOf(k, now));

class Model {
  readonly stores = new Set<string>();
  readonly keys: MKey[] = [];
  readonly tokens: MToken[] = [];
  readonly codes: MCode[] = [];
  /** per store, the token allowance's theoretical arrival time (GCRA, as the gate keeps it) */
  readonly tat = new Map<string, number>();
  /** the audit entries expected, by action */
  readonly audits = new Map<string, number>();
  private sources = 0;

  /** An address of its own for each request that may fail (the per-address block never applies). */
  source(): string {
    const n = ++this.sources;
    return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  }
  audit(action: string): void {
    this.audits.set(action, (this.audits.get(action) ?? 0) + 1);
  }
  byId(id: string | undefined): MKey | undefined {
    return this.keys.find((k) => k.id === id);
  }
  keysOf(store: string): MKey[] {
    return this.keys.filter((k) => k.store === store);
  }
  working(store: string, now: number): MKey[] {
    return this.keysOf(store).filter((k) => works(k, now));
  }
  keyWorks(store: string, id: string, now: number): boolean {
    const k = this.byId(id);
    return k?.store === store && works(k, now);
  }
  tokenWorks(t: MToken, now: number): boolean {
    return now < t.exp && this.keyWorks(t.store, t.kid, now);
  }
  /** The keys `pendingKey` may answer: waiting and working, the newest (ties of one instant: either). */
  pendingCandidates(store: string, now: number): MKey[] {
    const waiting = this.keysOf(store).filter((k) => k.sealed && works(k, now));
    const last = Math.max(...waiting.map((k) => k.createdAt));
    return waiting.filter((k) => k.createdAt === last);
  }
  rateLimited(store: string, now: number): boolean {
    const tat = this.tat.get(store);
    return tat !== undefined && Math.max(tat, now) - now - (BURST - 1) * INTERVAL > 0;
  }
  addKey(id: string, store: string, secret: string, now: number, sealed: boolean): MKey {
    const k: MKey = {
      id,
      store,
      secret,
      createdAt: now,
      expiresAt: null,
      revokedAt: null,
      sealed,
      deliveredAt: null,
      confirmedAt: null,
      lastUsedAt: null,
    };
    this.keys.push(k);
    return k;
  }
  /** The instants after `now` at which something changes: expiries of keys, tokens and codes, allowances refilling. */
  boundaries(now: number): number[] {
    const at = [
      ...this.keys.flatMap((k) => (k.expiresAt === null ? [] : [k.expiresAt])),
      ...this.tokens.map((t) => t.exp),
      ...this.codes.map((c) => c.expiresAt),
      ...[...this.tat.values()].flatMap((t) => [t - (BURST - 1) * INTERVAL, t]),
    ];
    return [...new Set(at.filter((x) => x > now))].sort((a, b) => a - b);
  }
}

// ---------- the hub ----------

const storeOf = (s: number): string => STORES[s % STORES.length] ?? 'S1';
/** The store an operation is for (S1 exists from the start). */
function storeAt(m: Model, at: At): string {
  const made = STORES.filter((s) => m.stores.has(s));
  return at.any || made.length === 0 ? storeOf(at.s) : (made[at.s % made.length] ?? 'S1');
}

/** A key made, one character of its secret changed (so its checksum fails). */
function typo(secret: string, n: number): string {
  const at = 4 + (n % 40);
  return secret.slice(0, at) + (secret[at] === 'a' ? 'b' : 'a') + secret.slice(at + 1);
}

/** A well-formed key (checksum right) with the public id of `secret`'s key and another secret part. */
function forged(secret: string): string {
  const body = secret.slice(4, 12) + crockfordBase32(randomBytes(20)).slice(0, 32);
  const c = crc32(body) >>> 0;
  const sum = crockfordBase32(Buffer.from([c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255])).slice(0, 6);
  return `tbk_${body}_${sum}`;
}

/** The secret a pick sends, and the model's key when it is exactly that key's. */
function secretOf(m: Model, store: string, p: KeyPick, now: number): { secret: string; key?: MKey } {
  const never = (): { secret: string } => ({ secret: newCredential('tbk').secret });
  if (p.k === 'unknown' || m.keys.length === 0) return never();
  if (p.k === 'key') {
    const mine = p.own ? m.keysOf(store) : m.keys;
    const from = mine.length > 0 ? mine : m.keys;
    const live = from.filter((k) => works(k, now));
    const pool = p.live && live.length > 0 ? live : from;
    const k = pool[p.n % pool.length]!;
    return { secret: k.secret, key: k };
  }
  const k = m.keys[p.n % m.keys.length]!;
  return { secret: p.k === 'typo' ? typo(k.secret, p.n) : forged(k.secret) };
}

/** The key id a pick names (a forged key names the real one's; a mistyped one names none). */
const idOf = (m: Model, store: string, p: KeyPick, now: number): string =>
  credentialId(secretOf(m, store, p, now).secret, 'tbk') ?? 'tbk_nokey000';

function lastAuditDetails(h: TestHub, action: string): Record<string, unknown> {
  const r = h.hub.storage.db
    .prepare('SELECT details FROM audit WHERE action = ? ORDER BY id DESC LIMIT 1')
    .get(action) as { details: string | null } | undefined;
  return JSON.parse(r?.details ?? '{}') as Record<string, unknown>;
}

function createStore(h: TestHub, m: Model, s: number): void {
  const store = storeOf(s);
  const now = h.clock.now();
  const uc = h.hub.useCases.stores;
  if (m.stores.has(store)) {
    expect(tbCodeOf(() => uc.create(ACTOR, store, store))).toBe(TbCodes.CONFLICT);
    return;
  }
  const r = uc.create(ACTOR, store, `Store ${store}`);
  const id = credentialId(r.apiKey, 'tbk');
  expect(id).toBeDefined();
  m.stores.add(store);
  m.addKey(id ?? '', store, r.apiKey, now, false);
  m.audit('store.create');
}

function rotate(h: TestHub, m: Model, op: Extract<Op, { t: 'rotate' }>): void {
  const store = storeAt(m, op.at);
  if (!m.stores.has(store)) return; // the admin API answers 404 before (storeParam)
  const now = h.clock.now();
  const uc = h.hub.useCases.stores;
  const w = m.working(store, now);
  // another rotation's grace is refused while its new key works; with that key revoked, the ending one may be rotated
  const inGrace = w.some((k) => k.expiresAt !== null) && w.some((k) => k.expiresAt === null);
  if (inGrace || w.length >= 2) {
    expect(tbCodeOf(() => uc.rotateKey(ACTOR, store, op.graceMs))).toBe(TbCodes.CONFLICT);
    return;
  }
  const r = uc.rotateKey(ACTOR, store, op.graceMs);
  // an ending key keeps its end when that is sooner than this grace's
  const ends = w.map((k) => Math.min(k.expiresAt ?? Infinity, now + op.graceMs));
  expect({ id: credentialId(r.apiKey, 'tbk'), oldExpireAt: r.oldExpireAt }).toEqual({
    id: r.id,
    oldExpireAt: iso(ends.length === 0 ? now + op.graceMs : Math.max(...ends)),
  });
  w.forEach((k, i) => {
    k.expiresAt = ends[i] ?? null;
    k.sealed = false; // superseded: the new key is the one delivered
  });
  m.addKey(r.id, store, r.apiKey, now, true);
  m.audit('key.rotate');
}

/** The agent's connection takes the key waiting for it; the agent stores it and, unless it crashes first, says so. */
function deliver(h: TestHub, m: Model, op: Extract<Op, { t: 'deliver' }>): void {
  const store = storeAt(m, op.at);
  const now = h.clock.now();
  const got = h.hub.useCases.agents.takePendingKey(store);
  const candidates = m.pendingCandidates(store, now);
  if (candidates.length === 0) {
    expect(got).toBeUndefined();
    return;
  }
  expect(candidates.map((k) => k.id)).toContain(got?.id);
  const k = m.byId(got?.id);
  if (!k || !got) throw new Error('unreachable');
  expect(got.secret).toBe(k.secret);
  k.deliveredAt ??= now;
  if (!op.ack) return;
  expect(h.hub.useCases.agents.confirmKey(store, k.id)).toBe(true);
  k.sealed = false;
  k.confirmedAt = now;
  m.audit('key.confirm');
}

/** A `key.ack` for any key: only a working key of this store whose text the hub still keeps is confirmed. */
function confirm(h: TestHub, m: Model, op: Extract<Op, { t: 'confirm' }>): void {
  const store = storeAt(m, op.at);
  const id = idOf(m, store, op.key, h.clock.now());
  const k = m.byId(id);
  const expected = k?.store === store && k.sealed && works(k, h.clock.now());
  expect(h.hub.useCases.agents.confirmKey(store, id)).toBe(expected);
  if (!k || !expected) return;
  k.sealed = false;
  k.confirmedAt = h.clock.now();
  m.audit('key.confirm');
}

function revoke(h: TestHub, m: Model, op: Extract<Op, { t: 'revoke' }>): void {
  const store = storeAt(m, op.at);
  const id = idOf(m, store, op.key, h.clock.now());
  const k = m.byId(id);
  const code = tbCodeOf(() => h.hub.useCases.stores.revokeKey(ACTOR, store, id));
  expect(code).toBe(k?.store !== store ? TbCodes.NOT_FOUND : k.revokedAt !== null ? TbCodes.CONFLICT : undefined);
  if (k?.store !== store || k.revokedAt !== null) return;
  k.revokedAt = h.clock.now();
  k.sealed = false;
  m.audit('key.revoke');
}

function makeCode(h: TestHub, m: Model, op: Extract<Op, { t: 'code' }>): void {
  const store = storeAt(m, op.at);
  const now = h.clock.now();
  const uc = h.hub.useCases.enrollments;
  const ttlOk = Number.isInteger(op.ttlMs) && op.ttlMs >= MIN_ENROLLMENT_TTL_MS && op.ttlMs <= MAX_ENROLLMENT_TTL_MS;
  if (!m.stores.has(store) || !ttlOk) {
    expect(tbCodeOf(() => uc.create(ACTOR, store, op.ttlMs))).toBe(
      m.stores.has(store) ? TbCodes.INVALID : TbCodes.NOT_FOUND,
    );
    return;
  }
  const r = uc.create(ACTOR, store, op.ttlMs);
  expect({ store: r.store, expiresAt: r.expiresAt }).toEqual({ store, expiresAt: iso(now + op.ttlMs) });
  m.codes.push({
    id: r.id,
    code: r.code,
    store,
    createdAt: now,
    expiresAt: now + op.ttlMs,
    usedAt: null,
    usedFrom: null,
  });
  m.audit('enrollment.create');
}

/** `POST /v1/enroll`: a code that works gives its store a new key and ends every key the store had that worked. */
function enroll(h: TestHub, m: Model, op: Extract<Op, { t: 'enroll' }>): void {
  const now = h.clock.now();
  const source = m.source();
  const p = op.code;
  const usable = m.codes.filter((x) => x.usedAt === null && x.expiresAt > now);
  const pool = p.k === 'made' && p.usable && usable.length > 0 ? usable : m.codes;
  const c = p.k === 'made' && pool.length > 0 ? pool[p.n % pool.length] : undefined;
  let text = p.k === 'malformed' ? 'ABCD-EFGH-JKMN-PQRU' : newEnrollmentCode();
  if (c && p.k === 'made') text = p.typed ? c.code.toLowerCase().replace(/-/g, '') : c.code;
  const why =
    p.k === 'malformed'
      ? 'malformed'
      : !c
        ? 'unknown'
        : c.usedAt !== null
          ? 'already used'
          : c.expiresAt <= now
            ? 'expired'
            : undefined;
  const uc = h.hub.useCases.enrollments;
  if (why !== undefined || !c) {
    expect(() => uc.use(source, text)).toThrow(
      expect.objectContaining({ code: TbCodes.UNAUTHORIZED, message: CODE_REFUSED }),
    );
    expect(lastAuditDetails(h, 'enrollment.refused')).toEqual({ reason: why });
    m.audit('enrollment.refused');
    return;
  }
  const ended = m.working(c.store, now);
  const r = uc.use(source, text);
  expect({ store: r.store, keyId: credentialId(r.apiKey, 'tbk') }).toEqual({ store: c.store, keyId: r.keyId });
  const details = lastAuditDetails(h, 'enrollment.use');
  expect({ keyId: details.keyId, endedKeys: [...(details.endedKeys as string[])].sort() }).toEqual({
    keyId: r.keyId,
    endedKeys: ended.map((k) => k.id).sort(),
  });
  for (const k of ended) {
    k.revokedAt = now;
    k.sealed = false;
    expect(h.hub.credentials.keyWorks(c.store, k.id)).toBe(false); // the replaced PC is cut off
  }
  m.addKey(r.keyId, c.store, r.apiKey, now, false);
  c.usedAt = now;
  c.usedFrom = source;
  m.audit('enrollment.use');
}

/** `POST /v1/token` with any key, `times` in a row, each from an address of its own. */
async function token(h: TestHub, m: Model, op: Extract<Op, { t: 'token' }>): Promise<void> {
  for (let i = 0; i < op.times; i++) await tokenOnce(h, m, op);
}

async function tokenOnce(h: TestHub, m: Model, op: Extract<Op, { t: 'token' }>): Promise<void> {
  const store = storeAt(m, op.at);
  const now = h.clock.now();
  const { secret, key } = secretOf(m, store, op.key, now);
  const limited = m.rateLimited(store, now);
  const ok = key?.store === store && works(key, now);
  let answer: Awaited<ReturnType<typeof h.hub.useCases.agentTokens.issue>> | undefined;
  let code: string | undefined;
  try {
    answer = await h.hub.useCases.agentTokens.issue(m.source(), store, secret, undefined);
  } catch (err) {
    if (!isTbError(err)) throw err;
    code = err.code;
  }
  // the allowance is asked before the key is checked: a store past it gets 429 whatever the key
  expect(code).toBe(limited ? TbCodes.RATE_LIMITED : ok ? undefined : TbCodes.UNAUTHORIZED);
  if (limited || !ok || !answer) return;
  expect({ tokenType: answer.tokenType, expiresIn: answer.expiresIn }).toEqual({
    tokenType: 'Bearer',
    expiresIn: TOKEN_SEC,
  });
  const t: MToken = { token: answer.accessToken, store, kid: key.id, exp: (Math.floor(now / 1000) + TOKEN_SEC) * 1000 };
  m.tokens.push(t);
  m.tat.set(store, Math.max(m.tat.get(store) ?? now, now) + INTERVAL);
  key.lastUsedAt = now;
}

function checkKey(h: TestHub, m: Model, op: Extract<Op, { t: 'check' }>): void {
  const store = storeAt(m, op.at);
  const now = h.clock.now();
  const { secret, key } = secretOf(m, store, op.key, now);
  if (key?.store !== store || !works(key, now)) {
    expect(tbCodeOf(() => h.hub.credentials.checkApiKey(store, secret))).toBe(TbCodes.UNAUTHORIZED);
    return;
  }
  expect(h.hub.credentials.checkApiKey(store, secret)).toEqual({ store, keyId: key.id });
  key.lastUsedAt = now;
}

/** A fresh token sent on an open connection of a store (its own, or another's). */
async function refresh(h: TestHub, m: Model, op: Extract<Op, { t: 'refresh' }>): Promise<void> {
  const t = m.tokens[op.n % Math.max(1, m.tokens.length)];
  if (!t) return;
  const store = op.own ? t.store : storeAt(m, op.at);
  const now = h.clock.now();
  const got = h.hub.useCases.agents.refreshToken(store, t.token);
  if (now >= t.exp) {
    await expect(got).rejects.toMatchObject({ code: TbCodes.UNAUTHORIZED, details: { expired: true } });
    return;
  }
  if (store !== t.store) {
    await expect(got).resolves.toEqual({ kind: 'other-store' });
    m.audit('auth.cross_store');
    return;
  }
  await expect(got).resolves.toEqual(
    m.keyWorks(t.store, t.kid, now) ? { kind: 'ok', kid: t.kid, expiresAt: t.exp } : { kind: 'key-dead' },
  );
}

function boundary(h: TestHub, m: Model, op: Extract<Op, { t: 'boundary' }>): void {
  const now = h.clock.now();
  const at = m.boundaries(now);
  const to = at[op.n % Math.max(1, at.length)];
  if (to !== undefined && to + op.offset > now) h.clock.advance(to + op.offset - now);
}

/** What the model says `listKeys` shows of `k`. */
const listed = (k: MKey, now: number): Record<string, unknown> => ({
  id: k.id,
  store: k.store,
  state: stateOf(k, now),
  createdAt: iso(k.createdAt),
  expiresAt: iso(k.expiresAt),
  lastUsedAt: iso(k.lastUsedAt),
  deliveredAt: iso(k.deliveredAt),
  confirmedAt: iso(k.confirmedAt),
  revokedAt: iso(k.revokedAt),
});
const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** What the hub once said no longer works (a key, a token): it must never work again. */
interface Dead {
  keys: Set<string>;
  tokens: Set<string>;
}

/** The checks after every step: (1)–(6) of the comment at the top (batched: one comparison each). */
async function checkInvariants(h: TestHub, m: Model, dead: Dead): Promise<void> {
  const now = h.clock.now();
  const { credentials } = h.hub;
  const { agents, enrollments } = h.hub.useCases;
  // (3) the listing, (4) the key waiting for each store's agent, (6) each store's codes
  const listings = STORES.map((store) => ({
    store,
    keys: [...credentials.listKeys(store)].sort(byId),
    codes: [...enrollments.list(store)].sort(byId),
  }));
  expect(listings).toEqual(
    STORES.map((store) => ({
      store,
      keys: m
        .keysOf(store)
        .sort(byId)
        .map((k) => listed(k, now)),
      codes: m.codes
        .filter((c) => c.store === store)
        .sort(byId)
        .map((c) => ({
          id: c.id,
          store,
          createdAt: iso(c.createdAt),
          expiresAt: iso(c.expiresAt),
          createdBy: ACTOR,
          state: c.usedAt !== null ? 'used' : c.expiresAt <= now ? 'expired' : 'pending',
          usedAt: iso(c.usedAt),
          usedFrom: c.usedFrom,
        })),
    })),
  );
  const usable = enrollments.list().map((c) => c.id);
  expect(usable.sort()).toEqual(
    m.codes
      .filter((c) => c.usedAt === null && c.expiresAt > now)
      .map((c) => c.id)
      .sort(),
  );
  for (const store of STORES) {
    const pending = credentials.pendingKey(store);
    const candidates = m.pendingCandidates(store, now);
    const k = candidates.find((x) => x.id === pending?.id) ?? candidates[0];
    expect([store, pending]).toEqual([store, k && { id: k.id, secret: k.secret }]);
  }
  // (1) every key at every store, through both checks; (2) none the hub once said ended works again
  const keyWorks: unknown[] = [];
  const expected: unknown[] = [];
  for (const k of m.keys)
    for (const store of STORES) {
      keyWorks.push([store, k.id, credentials.keyWorks(store, k.id), agents.acceptsKey(store, k.id)]);
      const w = k.store === store && works(k, now);
      expected.push([store, k.id, w, w]);
    }
  expect(keyWorks).toEqual(expected);
  const revived = m.keys.filter((k) => dead.keys.has(k.id) && credentials.keyWorks(k.store, k.id)).map((k) => k.id);
  expect(revived).toEqual([]);
  for (const k of m.keys) if (!credentials.keyWorks(k.store, k.id)) dead.keys.add(k.id);
  // (4) the text kept for the agent
  const sealed = h.hub.storage.db.prepare('SELECT id FROM api_keys WHERE secret_enc IS NOT NULL').all() as {
    id: string;
  }[];
  expect(sealed.map((r) => r.id).sort()).toEqual(
    m.keys
      .filter((k) => k.sealed)
      .map((k) => k.id)
      .sort(),
  );
  await checkTokens(
    h,
    m,
    dead,
    m.tokens.filter((t) => !dead.tokens.has(t.token)),
  );
}

/**
 * (5) tokens: verified until their expiry, working (as the agents' endpoint accepts a connection) while their key
 * does, never again once they did not. (After each step the tokens still working; every token at the end of a run:
 * verifying is most of a step's checks.)
 */
async function checkTokens(h: TestHub, m: Model, dead: Dead, which: MToken[]): Promise<void> {
  const now = h.clock.now();
  const { agents } = h.hub.useCases;
  const tokens: unknown[] = [];
  for (const t of which) {
    let v: Awaited<ReturnType<typeof agents.verifyToken>> | { refused: unknown };
    try {
      v = await agents.verifyToken(t.token);
    } catch (err) {
      v = { refused: isTbError(err) ? [err.code, err.details?.expired] : err };
    }
    const ok = 'kid' in v && agents.acceptsKey(v.store, v.kid);
    tokens.push([t.kid, t.exp, v, ok, ok && dead.tokens.has(t.token) ? 'worked again' : '']);
    if (!ok) dead.tokens.add(t.token);
  }
  expect(tokens).toEqual(
    which.map((t) => [
      t.kid,
      t.exp,
      now < t.exp ? { store: t.store, kid: t.kid, expiresAt: t.exp } : { refused: [TbCodes.UNAUTHORIZED, true] },
      m.tokenWorks(t, now),
      '',
    ]),
  );
}

/** (7) the audit chain, what it holds, and no key's or code's text anywhere. */
function checkEnd(h: TestHub, m: Model): void {
  expect(h.hub.auditTrail.verify().ok).toBe(true);
  const counts = h.hub.storage.db.prepare('SELECT action, COUNT(*) AS n FROM audit GROUP BY action').all() as {
    action: string;
    n: number | string;
  }[];
  const actions = ['store.create', 'key.rotate', 'key.revoke', 'key.confirm', 'auth.cross_store'].concat(
    ['create', 'use', 'refused'].map((a) => `enrollment.${a}`),
  );
  expect(
    Object.fromEntries(counts.filter((r) => actions.includes(r.action)).map((r) => [r.action, Number(r.n)])),
  ).toEqual(Object.fromEntries(m.audits));
  const all = (table: string): string => JSON.stringify(h.hub.storage.db.prepare(`SELECT * FROM ${table}`).all());
  const stored = ['api_keys', 'enrollment_codes', 'audit'].map(all).join('\n');
  for (const k of m.keys) expect(stored).not.toContain(k.secret.slice(4, 44));
  for (const c of m.codes) {
    expect(stored).not.toContain(c.code);
    expect(stored).not.toContain(c.code.replace(/-/g, ''));
  }
}

async function run(ops: Op[]): Promise<void> {
  const h = testHub();
  const m = new Model();
  const dead: Dead = { keys: new Set(), tokens: new Set() };
  try {
    createStore(h, m, 0);
    await checkInvariants(h, m, dead);
    for (const op of ops) {
      if (op.t === 'store') createStore(h, m, op.s);
      else if (op.t === 'rotate') rotate(h, m, op);
      else if (op.t === 'deliver') deliver(h, m, op);
      else if (op.t === 'confirm') confirm(h, m, op);
      else if (op.t === 'revoke') revoke(h, m, op);
      else if (op.t === 'code') makeCode(h, m, op);
      else if (op.t === 'enroll') enroll(h, m, op);
      else if (op.t === 'token') await token(h, m, op);
      else if (op.t === 'check') checkKey(h, m, op);
      else if (op.t === 'refresh') await refresh(h, m, op);
      else if (op.t === 'advance') h.clock.advance(op.ms);
      else boundary(h, m, op);
      await checkInvariants(h, m, dead);
    }
    await checkTokens(h, m, dead, m.tokens);
    checkEnd(h, m);
  } finally {
    h.cleanup();
  }
}

describe(`store API keys, access tokens and enrollment against a model of their lifetimes (${testBackend()})`, () => {
  it('a key or token works exactly while the model says; ended ones never again; enrollment ends all', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => run(ops)),
      { numRuns: RUNS },
    );
  });
});
