import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, EventsFrame, parseHubFrame, type EventResult, type WireEvent } from '@tillbridge/shared';
import { openAgentDb, type Db } from '../src/db/agent-db.js';
import { StorageHealth } from '../src/db/storage-health.js';
import { WriteRetry } from '../src/db/write-retry.js';
import { HubLink } from '../src/sync/hub-link.js';
import { JOURNAL_RETENTION_MS } from '../src/sync/journal.js';
import { Outbox } from '../src/sync/outbox.js';
import { Uploader } from '../src/sync/uploader.js';
import { testLinkOptions } from './support/link-options.js';

/**
 * Model-based property of the agent's durable outbox and its upload (DESIGN rules 1, 2 and 9; sync/outbox.ts,
 * uploader.ts, journal.ts). The real Outbox, Journal, Uploader and WriteRetry run on a real agent database file, with a
 * fixed agent clock and fake timers; the hub link is the real HubLink class with only its socket replaced (`connected`
 * and `sendRaw`), its events emitted as HubLink emits them for the hub's frames (parsed by the wire's own parser). A
 * scripted hub, kept across the agent's crashes, takes the uploader's frames in order and answers each, when the test
 * says: an ack (applied, duplicate by id, exception) or a nack after applying a prefix (as a hub applying in parts
 * does). Its answers are then delivered, lost, duplicated, delayed and reordered; the link goes down and up; the agent
 * is killed (its objects dropped, the database handle closed or just abandoned, sometimes in the middle of a
 * transaction) and reopened from the same files; events are appended (several kinds and registers, some transactions
 * rolled back); the clock moves (also back); the journal is pruned; the hub asks for a register's day again (resend);
 * the upload mode switches between realtime and batched; the deletes of acked rows fail for a while (a full disk) and
 * are retried.
 *
 * A small model of the outbox, the journal and the uploader's documented contract (stop-and-wait, one batch from the
 * oldest row not yet confirmed on this connection, the welcome deletes nothing, an ack deletes only its batch, a nack
 * waits for its delay) predicts every frame the agent sends and every row it keeps, checked after every step, with:
 * - no event is lost: every committed event is in the outbox or applied at the hub;
 * - the hub never sees a forked history: an event new to it always comes above every seq it saw (so the first
 *   deliveries are in seq order), and every batch is in ascending seq order and carries what was committed;
 * - seqs are unique and only grow, across crashes and rolled-back appends (the hello's `newest` included): a new
 *   event's is the newest given + 1;
 * - a row whose delete was committed is never sent again (unless the hub asks for its day again);
 * - depth, oldest age, last seq, newest, the last sync and the owed cleanup are the model's;
 * and at the end, after a healthy connection drains everything, the outbox is empty and the hub has every event.
 */

/** Sequences per run: 2–4 s on a 2-core machine (every append is a synced commit to a real database file). */
const RUNS = 70;
const BATCH_MAX = 3;
const RETRY_BASE_MS = 10;
const RETRY_CAP_MS = 100;
const INTERVAL_MS = 1000;
/** WriteRetry's wait with its random source at 0: its floor of 50 ms. */
const WRITE_RETRY_MS = 50;
const CLEANUP = 'outbox cleanup';
const DAY = 86_400_000;
const HOUR = 3_600_000;
/** The agent's clock at the start: 21:00 UTC, a few hours before a new business day. */
const START = Date.parse('2031-03-14T21:00:00.000Z');
const REGISTERS = ['R1', 'R2'] as const;
const KINDS = ['sale', 'sale', 'return.decision', 'return.complete', 'return.cancel', 'day.close'] as const;
const log = createLogger({ name: 'test', level: 'silent' });

type Kind = (typeof KINDS)[number];
type Register = (typeof REGISTERS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Steps

type Step =
  /** events appended in one transaction; `fail`: it throws after them and is rolled back */
  | { k: 'append'; events: { kind: Kind; register: Register }[]; fail: boolean }
  /** one turn of the event loop (immediates: the outbox's append notifications) */
  | { k: 'tick' }
  /** timers advance (the uploader's retry, the batched mode's interval, the cleanup's retry) */
  | { k: 'wait'; ms: number }
  /**
   * the hub takes the oldest frame it received: acks it, or applies a prefix of it and nacks the rest; `answer`: its
   * answer reaches the agent at once (else it waits with the others)
   */
  | { k: 'hub'; nack: boolean; prefix: number; retryAfterMs: number; jitter: number; answer: boolean }
  /** one answer of the hub reaches the agent: the oldest or a later one (reordered), once, twice, or never */
  | { k: 'deliver'; pick: number; how: 'once' | 'dup' | 'lose' }
  | { k: 'down' }
  | { k: 'up' }
  /** the agent is killed: `midAppend` inside an uncommitted transaction; `close`: the handle closed, else abandoned */
  | { k: 'crash'; midAppend: boolean; close: boolean }
  | { k: 'clock'; ms: number }
  | { k: 'prune' }
  /** the hub asks for a register's business day again */
  | { k: 'resend'; pick: number }
  | { k: 'mode'; batched: boolean }
  /** the deletes of acked rows fail (a full disk), or work again */
  | { k: 'full'; on: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant('append' as const),
      events: fc.array(fc.record({ kind: fc.constantFrom(...KINDS), register: fc.constantFrom(...REGISTERS) }), {
        minLength: 1,
        maxLength: 3,
      }),
      fail: fc.nat({ max: 7 }).map((n) => n === 0),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ k: 'tick' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('wait' as const), ms: fc.constantFrom(1, 7, 50, 130, 400, 1000, 2500) }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('hub' as const),
      nack: fc.nat({ max: 3 }).map((n) => n === 0),
      prefix: fc.nat({ max: 5 }),
      retryAfterMs: fc.constantFrom(1, 40, 250),
      jitter: fc.constantFrom(0, 0.5, 0.999),
      answer: fc.nat({ max: 2 }).map((n) => n > 0),
    }),
  },
  {
    weight: 9,
    arbitrary: fc.record({
      k: fc.constant('deliver' as const),
      pick: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat({ max: 3 }), weight: 1 }),
      how: fc.constantFrom('once' as const, 'once' as const, 'once' as const, 'dup' as const, 'lose' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'down' as const }) },
  { weight: 4, arbitrary: fc.constant({ k: 'up' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('crash' as const), midAppend: fc.boolean(), close: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('clock' as const),
      ms: fc.constantFrom(1000, 60_000, 3 * HOUR, DAY, 15 * DAY, -2 * HOUR),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'prune' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('resend' as const), pick: fc.nat({ max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mode' as const), batched: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('full' as const), on: fc.boolean() }) },
);

// ---------------------------------------------------------------------------------------------------------------
// The hub link without its socket

/**
 * The real HubLink (its event bus, its `info()`), with the socket replaced: what the uploader sends is kept for the
 * scripted hub, and the hub's frames are parsed and handed on as HubLink hands them (onMessage, relay).
 */
class ScriptedLink extends HubLink {
  up = false;
  readonly sent: string[] = [];

  constructor(now: () => number) {
    super({ ...testLinkOptions('ws://127.0.0.1:9', log), now });
  }

  override get connected(): boolean {
    return this.up;
  }

  override sendRaw(text: string): boolean {
    if (!this.up) return false;
    this.sent.push(text);
    return true;
  }

  /** The hub welcomed this connection (HubLink: ready, then the event). */
  welcome(lastSeq: number): void {
    this.up = true;
    this.events.emit('welcome', lastSeq, 'a2V5');
  }

  /** The connection closed after its welcome. */
  lost(): void {
    this.up = false;
    this.events.emit('down');
  }

  /** A frame from the hub, as HubLink hands on those it relays. */
  hear(text: string): void {
    const f = parseHubFrame(JSON.parse(text));
    if (f.t === 'ack') this.events.emit('ack', f.upTo, f.results);
    else if (f.t === 'nack') this.events.emit('nack', f.seq, f.code, f.retryAfterMs);
    else if (f.t === 'resend') this.events.emit('resend', f.register, f.businessDay, f.missing);
    else throw new Error(`the scripted hub sent ${f.t}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The model

interface Row {
  seq: number;
  id: string;
  kind: string;
  register: string;
  at: string;
  createdMs: number;
  body: string;
}
interface JournalEntry {
  id: string;
  kind: string;
  register: string;
  day: string;
  at: string;
  createdMs: number;
  body: string;
}
/** A timer of the agent process: due on the fake timers' clock; ties fire in the order they were made. */
interface Timer {
  id: number;
  due: number;
}
/** What the agent process holds in memory, lost when it is killed. */
interface ProcModel {
  connected: boolean;
  /** the last seq of the batch the uploader waits for an answer to */
  outstanding: number | undefined;
  /** what acks confirmed on this connection: batches start after it */
  acked: number;
  failures: number;
  flushing: boolean;
  /** append/resend notifications waiting for the next turn of the event loop */
  immediates: number;
  lastSyncMs: number | undefined;
  retry: Timer | undefined;
  interval: Timer | undefined;
  /** the owed delete of acked rows (WriteRetry) and its retry timer */
  owed: number | undefined;
  owedTimer: Timer | undefined;
  /** the frames the uploader must have sent since the last check */
  expected: Row[][];
}

interface Model {
  clock: number;
  /** the fake timers' time */
  time: number;
  timerIds: number;
  rows: Row[];
  /** the highest seq the database ever gave */
  lastGiven: number;
  journal: Map<string, JournalEntry>;
  /** every event committed, as it was committed */
  committed: Map<string, Row>;
  /** events whose row's delete was committed (and not put back by a resend since) */
  durablyAcked: Set<string>;
  mode: 'realtime' | 'batched';
  /** deletes fail (full disk) */
  full: boolean;
  counter: number;
  p: ProcModel;
}

const freshProc = (): ProcModel => ({
  connected: false,
  outstanding: undefined,
  acked: 0,
  failures: 0,
  flushing: false,
  immediates: 0,
  lastSyncMs: undefined,
  retry: undefined,
  interval: undefined,
  owed: undefined,
  owedTimer: undefined,
  expected: [],
});

const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

function bodyOf(kind: Kind, n: number, clock: number): unknown {
  switch (kind) {
    case 'sale':
      return {
        receipt: `T${n}`,
        lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 250 }],
        tenders: [{ kind: 'cash', amount: 250 }],
      };
    case 'return.decision':
      return { authorization: `Q${n}`, decision: 'approved' };
    case 'return.complete':
      return { authorization: `Q${n}`, refund: { kind: 'cash', amount: 100 } };
    case 'return.cancel':
      return { authorization: `Q${n}` };
    case 'day.close':
      return { businessDay: utcDay(clock - DAY) };
  }
}

/** The business day the journal keeps an event under (the store's zone is UTC here): journal.ts `facts`. */
function dayOf(kind: string, at: string, body: unknown): string {
  const b = body as { businessDay?: unknown };
  if (kind === 'day.close' && typeof b.businessDay === 'string') return b.businessDay;
  return utcDay(Date.parse(at));
}

const wireOf = (r: Row): WireEvent => ({
  seq: r.seq,
  id: r.id,
  kind: r.kind,
  register: r.register,
  at: r.at,
  body: JSON.parse(r.body) as unknown,
});

// ---------------------------------------------------------------------------------------------------------------
// The scripted hub: what it applied survives the agent's crashes; a connection's frames do not

class ScriptedHub {
  /** event id → the seq it was first applied under */
  readonly applied = new Map<string, number>();
  /** the seqs of first applications, in order */
  readonly firstSeqs: number[] = [];
  cursor = 0;
  /** the agent's frames it has not taken yet, and its answers not yet delivered */
  uplink: string[] = [];
  /** each answer with the random source the agent's backoff draws when it hears it (a nack) */
  downlink: { text: string; jitter: number }[] = [];

  cut(): void {
    this.uplink = [];
    this.downlink = [];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One run

interface Proc {
  db: Db;
  outbox: Outbox;
  writes: WriteRetry;
  link: ScriptedLink;
  uploader: Uploader;
}

const openRuns: Run[] = [];

class Run {
  readonly dir = mkdtempSync(join(tmpdir(), 'tb-outbox-prop-'));
  readonly hub = new ScriptedHub();
  readonly m: Model = {
    clock: START,
    time: 0,
    timerIds: 0,
    rows: [],
    lastGiven: 0,
    journal: new Map(),
    committed: new Map(),
    durablyAcked: new Set(),
    mode: 'realtime',
    full: false,
    counter: 0,
    p: freshProc(),
  };
  /** handles of killed agents left open (what a SIGKILL leaves: no close, no checkpoint) */
  private readonly abandoned: Db[] = [];
  proc: Proc;

  constructor() {
    this.proc = this.open();
  }

  private get p(): ProcModel {
    return this.m.p;
  }

  /** An agent process on the database files, wired as agent.ts wires the outbox, the link and the uploader. */
  private open(): Proc {
    const now = (): number => this.m.clock;
    const db = openAgentDb(this.dir);
    const outbox = new Outbox(db, now);
    const writes = new WriteRetry({
      baseMs: RETRY_BASE_MS,
      capMs: RETRY_CAP_MS,
      health: new StorageHealth(now),
      log,
      random: () => 0,
    });
    const link = new ScriptedLink(now);
    const uploader = new Uploader(outbox, link, {
      batchMax: BATCH_MAX,
      retryBaseMs: RETRY_BASE_MS,
      retryCapMs: RETRY_CAP_MS,
      log,
      writes,
      now,
    });
    uploader.start();
    link.events.on('resend', (register, businessDay) =>
      writes.run(`resend ${register} ${businessDay}`, () => void outbox.resend(register, businessDay)),
    );
    // the stored sync settings, applied at start (agent.ts followSettings)
    uploader.setMode(this.m.mode === 'batched' ? { mode: 'batched', intervalMs: INTERVAL_MS } : { mode: 'realtime' });
    if (this.m.mode === 'batched') this.p.interval = this.timer(INTERVAL_MS);
    else this.pump();
    return { db, outbox, writes, link, uploader };
  }

  close(): void {
    this.proc.uploader.stop();
    this.proc.writes.stop();
    if (this.proc.db.open) this.proc.db.close();
    for (const db of this.abandoned) if (db.open) db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  step(s: Step): void {
    switch (s.k) {
      case 'append':
        this.append(s.events, s.fail);
        break;
      case 'tick':
        this.advance(0);
        break;
      case 'wait':
        this.advance(s.ms);
        break;
      case 'hub':
        if (this.hubTakes(s) && s.answer) this.deliver(this.hub.downlink.length - 1, 'once');
        break;
      case 'deliver':
        this.deliver(s.pick, s.how);
        break;
      case 'down':
        if (!this.p.connected) break;
        this.hub.cut();
        this.proc.link.lost();
        this.p.connected = false;
        this.p.outstanding = undefined;
        break;
      case 'up':
        this.connect();
        break;
      case 'crash':
        this.crash(s.midAppend, s.close);
        break;
      case 'clock':
        this.m.clock += s.ms;
        break;
      case 'prune':
        this.prune();
        break;
      case 'resend':
        this.askResend(s.pick);
        break;
      case 'mode':
        this.setMode(s.batched);
        break;
      case 'full':
        this.setFull(s.on);
        break;
    }
    this.check();
  }

  // ----- the uploader's contract, as the model runs it

  private timer(delay: number): Timer {
    return { id: ++this.m.timerIds, due: this.m.time + delay };
  }

  /** Sends the next batch if one may leave: one in flight at a time, from the oldest row not confirmed here. */
  private pump(): void {
    const p = this.p;
    if (p.outstanding !== undefined || p.retry || !p.connected) return;
    if (this.m.mode === 'batched' && !p.flushing) return;
    const rows = this.m.rows.filter((r) => r.seq > p.acked).slice(0, BATCH_MAX);
    const last = rows.at(-1);
    if (!last) {
      p.flushing = false;
      return;
    }
    p.expected.push(rows.map((r) => ({ ...r })));
    p.outstanding = last.seq;
  }

  /** The delete of the rows up to `upTo`, through the retrying writer: a newer one replaces one owed. */
  private cleanup(upTo: number): void {
    this.p.owed = upTo;
    this.attemptCleanup();
  }

  private attemptCleanup(): void {
    const p = this.p;
    if (p.owed === undefined) return;
    const upTo = p.owed;
    // a full disk fails a delete that deletes something
    if (this.m.full && this.m.rows.some((r) => r.seq <= upTo)) {
      p.owedTimer ??= this.timer(WRITE_RETRY_MS);
      return;
    }
    for (const r of this.m.rows) if (r.seq <= upTo) this.m.durablyAcked.add(r.id);
    this.m.rows = this.m.rows.filter((r) => r.seq > upTo);
    p.owed = undefined;
    p.owedTimer = undefined;
  }

  private onAck(upTo: number): void {
    const p = this.p;
    if (p.outstanding === undefined) return; // no batch waits for it
    const confirmed = Math.min(upTo, p.outstanding);
    this.cleanup(confirmed);
    p.acked = Math.max(p.acked, confirmed);
    p.outstanding = undefined;
    p.failures = 0;
    p.lastSyncMs = this.m.clock;
    this.pump();
  }

  private onNack(retryAfterMs: number, jitter: number): void {
    const p = this.p;
    p.outstanding = undefined;
    const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(p.failures++, 30));
    p.retry = this.timer(Math.max(retryAfterMs, Math.floor(jitter * ceiling)));
  }

  /**
   * The hub asked for a register's day again: its journalled events not in the outbox go back, oldest first, under
   * the next seqs, and the outbox's `newest` is the last of them: an event still waiting takes no seq (an upsert on
   * an AUTOINCREMENT table would take one for it and leave a gap).
   */
  private onResend(register: string, day: string): void {
    const entries = [...this.m.journal.values()]
      .filter((e) => e.register === register && e.day === day)
      .sort((a, b) => a.createdMs - b.createdMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const back = entries.filter((e) => !this.m.rows.some((r) => r.id === e.id));
    const before = this.m.lastGiven;
    const got = this.proc.outbox.after(before, 1_000_000);
    expect(
      got.map((r) => r.event_id),
      'the events the resend put back',
    ).toEqual(back.map((e) => e.id));
    back.forEach((e, i) => {
      const seq = got[i]!.seq;
      expect(seq, 'the next seq').toBe(before + i + 1);
      const { id, kind, at, body } = e;
      this.m.rows.push({ seq, id, kind, register, at, createdMs: this.m.clock, body });
      this.m.durablyAcked.delete(id);
    });
    const newest = this.proc.outbox.newest();
    expect(newest, 'newest after a resend').toBe(before + back.length);
    this.m.lastGiven = newest;
    if (back.length > 0) this.p.immediates++;
  }

  /** Timers run up to `ms` on: first the immediates, then each timer due, in order. */
  private advance(ms: number): void {
    vi.advanceTimersByTime(ms);
    const end = this.m.time + ms;
    const p = this.p;
    while (p.immediates > 0) {
      p.immediates--;
      this.pump();
    }
    for (;;) {
      const due = [p.retry, p.interval, p.owedTimer]
        .filter((t): t is Timer => t !== undefined && t.due <= end)
        .sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!due) break;
      this.m.time = due.due;
      if (due === p.retry) {
        p.retry = undefined;
        this.pump();
      } else if (due === p.interval) {
        due.due += INTERVAL_MS;
        p.flushing = true;
        this.pump();
      } else {
        p.owedTimer = undefined;
        this.attemptCleanup();
      }
    }
    this.m.time = end;
  }

  // ----- the steps

  private append(events: { kind: Kind; register: Register }[], fail: boolean): void {
    const { db, outbox } = this.proc;
    const made = events.map((e) => ({ ...e, body: bodyOf(e.kind, ++this.m.counter, this.m.clock) }));
    const given: { seq: number; eventId: string }[] = [];
    try {
      db.transaction(() => {
        for (const e of made) given.push(outbox.append(e.kind, e.register, e.body));
        if (fail) throw new Error('the commit failed');
      })();
    } catch (err) {
      if (!fail) throw err;
    }
    // each append notifies, committed or not
    this.p.immediates += made.length;
    if (fail) return;
    made.forEach((e, i) => {
      const g = given[i]!;
      // a seq above every seq this database ever gave, rolled-back appends' aside
      expect(g.seq, 'the seq of a new event').toBe(this.m.lastGiven + 1);
      this.m.lastGiven = g.seq;
      const at = new Date(this.m.clock).toISOString();
      const body = JSON.stringify(e.body);
      const row: Row = {
        seq: g.seq,
        id: g.eventId,
        kind: e.kind,
        register: e.register,
        at,
        createdMs: this.m.clock,
        body,
      };
      this.m.rows.push(row);
      this.m.committed.set(row.id, { ...row });
      const day = dayOf(e.kind, at, e.body);
      this.m.journal.set(row.id, {
        id: row.id,
        kind: e.kind,
        register: e.register,
        day,
        at,
        createdMs: row.createdMs,
        body,
      });
    });
  }

  /** The hub takes the oldest frame: every event new to it must come above every seq it saw (no forked history). */
  private hubTakes(s: Extract<Step, { k: 'hub' }>): boolean {
    const text = this.hub.uplink.shift();
    if (text === undefined) return false;
    const items = EventsFrame.parse(JSON.parse(text)).items;
    items.forEach((item, i) => {
      if (i > 0) expect(item.seq, 'seqs in a batch ascend').toBeGreaterThan(items[i - 1]!.seq);
    });
    const applied = s.nack ? s.prefix % items.length : items.length;
    const results: EventResult[] = [];
    for (const item of items.slice(0, applied)) {
      const committed = this.m.committed.get(item.id);
      if (!committed) throw new Error(`the hub got an event that was never committed: ${JSON.stringify(item)}`);
      expect(item, 'an event as it was committed').toEqual({ ...wireOf(committed), seq: item.seq });
      if (this.hub.applied.has(item.id)) {
        this.hub.cursor = Math.max(this.hub.cursor, item.seq);
        results.push({ seq: item.seq, outcome: 'duplicate' });
        continue;
      }
      if (item.seq <= this.hub.cursor)
        throw new Error(
          `forked history: new event ${item.id} at seq ${item.seq}, the hub's cursor at ${this.hub.cursor}`,
        );
      this.hub.applied.set(item.id, item.seq);
      this.hub.firstSeqs.push(item.seq);
      this.hub.cursor = item.seq;
      results.push(
        item.kind === 'return.cancel'
          ? { seq: item.seq, outcome: 'exception', code: 'unknown_authorization' }
          : { seq: item.seq, outcome: 'applied' },
      );
    }
    const frame =
      applied < items.length
        ? { t: 'nack', seq: items[applied]!.seq, code: 'TB_STORAGE_BUSY', retryAfterMs: s.retryAfterMs }
        : { t: 'ack', upTo: items.at(-1)!.seq, results };
    this.hub.downlink.push({ text: JSON.stringify(frame), jitter: s.jitter });
    return true;
  }

  private deliver(pick: number, how: 'once' | 'dup' | 'lose'): void {
    const q = this.hub.downlink;
    if (q.length === 0) return;
    const i = pick % q.length;
    const { text, jitter } = q[i]!;
    if (how !== 'dup') q.splice(i, 1);
    if (how === 'lose') return;
    const f = JSON.parse(text) as {
      t: string;
      upTo: number;
      retryAfterMs: number;
      register: string;
      businessDay: string;
    };
    if (f.t === 'nack') {
      // the uploader's full-jitter backoff, with the random source the hub's step chose
      const random = vi.spyOn(Math, 'random').mockReturnValue(jitter);
      try {
        this.proc.link.hear(text);
      } finally {
        random.mockRestore();
      }
      this.onNack(f.retryAfterMs, jitter);
      return;
    }
    this.proc.link.hear(text);
    if (f.t === 'ack') this.onAck(f.upTo);
    else this.onResend(f.register, f.businessDay);
  }

  private connect(): void {
    if (this.p.connected) return;
    // the hello says the newest seq this database ever gave
    expect(this.proc.outbox.newest(), "the hello's newest").toBe(this.m.lastGiven);
    this.hub.cut();
    this.proc.link.welcome(this.hub.cursor);
    const p = this.p;
    p.connected = true;
    p.acked = 0; // the welcome deletes nothing: the whole outbox goes again
    p.outstanding = undefined;
    p.retry = undefined;
    this.pump();
  }

  /** The agent is killed: nothing of its memory survives, and its timers never fire; the files stay. */
  private crash(midAppend: boolean, close: boolean): void {
    const { db, outbox, uploader, writes } = this.proc;
    if (midAppend) {
      db.exec('BEGIN IMMEDIATE');
      outbox.append('sale', 'R1', { receipt: 'never-committed' });
    }
    uploader.stop();
    writes.stop();
    vi.clearAllTimers();
    // a handle inside a transaction is closed (its lock released, as the kernel does for a killed process)
    if (close || midAppend) db.close();
    else this.abandoned.push(db);
    this.hub.cut();
    this.m.full = false; // the failing deletes were this connection's (a temporary trigger)
    this.m.p = freshProc();
    this.proc = this.open();
  }

  private prune(): void {
    this.proc.outbox.journal.pruneOlderThan(this.m.clock);
    for (const [id, e] of this.m.journal)
      if (e.createdMs < this.m.clock - JOURNAL_RETENTION_MS) this.m.journal.delete(id);
  }

  private askResend(pick: number): void {
    if (!this.p.connected) return;
    const days = [...new Set([...this.m.journal.values()].map((e) => `${e.register}|${e.day}`))].sort();
    days.push(`R1|${utcDay(this.m.clock)}`);
    const [register, businessDay] = days[pick % days.length]!.split('|') as [string, string];
    const missing = { receipts: [], authorizations: [] };
    this.hub.downlink.push({ text: JSON.stringify({ t: 'resend', register, businessDay, missing }), jitter: 0 });
  }

  private setMode(batched: boolean): void {
    this.proc.uploader.setMode(batched ? { mode: 'batched', intervalMs: INTERVAL_MS } : { mode: 'realtime' });
    this.m.mode = batched ? 'batched' : 'realtime';
    this.p.interval = batched ? this.timer(INTERVAL_MS) : undefined;
    if (!batched) this.pump();
  }

  private setFull(on: boolean): void {
    this.proc.db.exec(
      on
        ? `CREATE TEMP TRIGGER IF NOT EXISTS disk_full BEFORE DELETE ON main.outbox
           BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`
        : `DROP TRIGGER IF EXISTS temp.disk_full`,
    );
    this.m.full = on;
  }

  // ----- after every step

  check(): void {
    const { outbox, link, uploader, writes, db } = this.proc;
    const m = this.m;
    // the frames sent since the last step: exactly those the model sent, and none a committed delete confirmed
    const sent = link.sent.splice(0).map((t) => EventsFrame.parse(JSON.parse(t)).items);
    const want = this.p.expected.splice(0);
    for (const items of sent)
      for (const item of items)
        if (m.durablyAcked.has(item.id)) throw new Error(`sent again after its ack was durable: ${item.id}`);
    expect(sent, 'the frames the uploader sent').toEqual(want.map((rows) => rows.map(wireOf)));
    this.hub.uplink.push(...sent.map((items) => JSON.stringify({ t: 'events', items })));
    expect(link.info().frameFailures, 'handlers of hub frames that threw').toBeUndefined();

    const rows = outbox.after(0, 1_000_000).map((r): Row => ({
      seq: r.seq,
      id: r.event_id,
      kind: r.kind,
      register: r.register,
      at: r.at,
      createdMs: r.created_ms,
      body: r.body,
    }));
    expect(rows, 'the outbox').toEqual(m.rows);
    const journal = db
      .prepare(`SELECT event_id, kind, register, business_day, at, created_ms, body FROM journal ORDER BY event_id`)
      .all() as { event_id: string; kind: string; register: string; business_day: string; at: string }[];
    expect(journal, 'the journal').toEqual(
      [...m.journal.values()]
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((e) => ({
          event_id: e.id,
          kind: e.kind,
          register: e.register,
          business_day: e.day,
          at: e.at,
          created_ms: e.createdMs,
          body: e.body,
        })),
    );
    const oldest = Math.min(...m.rows.map((r) => r.createdMs));
    expect(outbox.stats(), 'stats').toEqual({
      depth: m.rows.length,
      oldestAgeMs: m.rows.length > 0 ? Math.max(0, m.clock - oldest) : 0,
    });
    expect(outbox.lastSeq(), 'lastSeq').toBe(m.rows.at(-1)?.seq ?? 0);
    expect(outbox.newest(), 'newest').toBe(m.lastGiven);
    expect(uploader.lastSync(), 'lastSync').toBe(
      this.p.lastSyncMs !== undefined ? new Date(this.p.lastSyncMs).toISOString() : undefined,
    );
    expect(writes.owes(CLEANUP), 'a cleanup owed').toBe(this.p.owed !== undefined);
    // no event lost: each committed one is in the outbox or at the hub
    for (const id of m.committed.keys())
      if (!this.hub.applied.has(id) && !m.rows.some((r) => r.id === id)) throw new Error(`event ${id} is lost`);
  }

  /** A healthy connection from now on: everything goes, the hub acks each batch, every answer arrives. */
  drainAll(): void {
    this.step({ k: 'full', on: false });
    this.step({ k: 'down' });
    this.step({ k: 'up' });
    for (let i = 0; i < 200 && (this.m.rows.length > 0 || this.p.owed !== undefined); i++) {
      this.step({ k: 'tick' });
      while (this.hub.uplink.length > 0) {
        this.step({ k: 'hub', nack: false, prefix: 0, retryAfterMs: 1, jitter: 0, answer: false });
        while (this.hub.downlink.length > 0) this.step({ k: 'deliver', pick: 0, how: 'once' });
      }
      this.step({ k: 'wait', ms: 2 * INTERVAL_MS });
    }
    expect(this.m.rows, 'the outbox after a healthy connection').toEqual([]);
    expect(this.proc.outbox.stats()).toEqual({ depth: 0, oldestAgeMs: 0 });
    for (const id of this.m.committed.keys()) expect(this.hub.applied.has(id), `${id} at the hub`).toBe(true);
    const ascending = this.hub.firstSeqs.every((s, i, all) => i === 0 || s > all[i - 1]!);
    expect(ascending, `first deliveries in seq order: ${this.hub.firstSeqs.join(' ')}`).toBe(true);
  }
}

function runSequence(steps: Step[]): void {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'],
  });
  const run = new Run();
  openRuns.push(run);
  try {
    run.check();
    for (const s of steps) run.step(s);
    run.step({ k: 'crash', midAppend: false, close: false });
    run.drainAll();
  } finally {
    openRuns.splice(openRuns.indexOf(run), 1);
    run.close();
    vi.useRealTimers();
  }
}

afterEach(() => {
  for (const r of openRuns.splice(0)) r.close();
  vi.useRealTimers();
});

describe('the outbox and its upload keep every event, in order, whatever the link and the agent do', () => {
  it('appends, acks and nacks lost, duplicated and reordered, disconnections, crashes, time, against a model', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 120, size: 'max' }), (steps) => runSequence(steps)),
      { numRuns: RUNS },
    );
  });
});
