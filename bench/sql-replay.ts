/**
 * `node bench/dist/sql-replay.js DIR` (after a bench run with `sql-capture.ts` preloaded, see there): the statements
 * the hub and the agent ran, replayed with nothing else — no JavaScript of theirs, no sockets, no validation — on
 * fresh files, each process's from its first statement (or from a copy of the file as it found it: a hub's `init` runs
 * apart), and timed over one phase the bench noted (DIR/phases.json: its start and end, epoch ms, its count). The same
 * SQL, the same parameters, the same transactions and savepoints, the same pragmas (WAL, `synchronous`), in the same
 * order: the floor of the data model as the code writes it. Printed beside the throughput floor (a group commit of
 * sale + line rows, 100 a transaction) measured in the same run, and the floors the bench measured in its run.
 * - REPLAY_PHASE: `throughput` (the default) or `authorization`;
 * - REPLAY_MERGE=K: every K of the phase's transactions committed as one, as if the path grouped K times more;
 * - REPLAY_GROUP=S: as many as one as make S operations a commit on average (100: the throughput floor's grouping);
 * - REPLAY_TOP=N: the N statements that took longest in the phase;
 * - REPLAY_INTO=DIR: keeps the replayed files there; `--json` adds the figures as one JSON line.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sqliteFloor } from './floor.js';
import { ms, summarize, type Summary } from './stats.js';

type Entry = [number, number, string, string, unknown, unknown, unknown?];
interface Phase {
  start: number;
  end: number;
  /** how many operations the phase made, of `unit` (sales, authorizations) */
  count: number;
  unit: string;
  /** the floors the bench measured in the same run (p50s, ms), for the reader */
  floors?: Record<string, number>;
}
interface Replayed {
  label: string;
  statements: number;
  commits: number;
  wallMs: number;
  cpuMs: number;
  mismatches: number;
  firstMismatch?: string;
  /** wall time (ms) and count of each statement's text in the phase */
  bySql: Map<string, { ms: number; n: number }>;
  /** how many of the phase's transactions were committed as one */
  merge?: number;
  /** each outermost transaction's time in the phase, BEGIN to COMMIT, ms */
  transactions: number[];
}

function decode(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object') {
    if ('$n' in value) return BigInt((value as { $n: string }).$n);
    if ('$b' in value) return Buffer.from((value as { $b: string }).$b, 'base64');
  }
  return value;
}

interface Conn {
  db: Database.Database;
  stmts: Map<string, Database.Statement>;
  merged: number;
  /** when its transaction in the phase began (performance.now()) */
  began?: number;
}

/** One captured call again, on the statement prepared once per connection; what it threw, if it did. */
function execute(c: Conn, method: string, sql: string, params: unknown[]): Error | undefined {
  try {
    if (method === 'exec') c.db.exec(sql);
    else if (/^PRAGMA /i.test(sql) && method !== 'run') c.db.pragma(sql.slice(7), { simple: method === 'get' });
    else {
      let s = c.stmts.get(sql);
      if (!s) c.stmts.set(sql, (s = c.db.prepare(sql)));
      if (method === 'run') s.run(...params);
      else if (method === 'get') s.get(...params);
      else if (method === 'all') s.all(...params);
      else for (const _ of s.iterate(...params));
    }
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

function read(file: string): Entry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l, decode) as Entry);
}

/** A captured connection opened again: on the file it had in this replay, or on a copy of the file as it found it. */
function open(
  name: string,
  readonly: boolean,
  found: string | null | undefined,
  files: Map<string, string>,
  into: string,
): Conn {
  let mapped = files.get(name);
  if (!mapped) {
    mapped = name === '' || name === ':memory:' ? name : join(into, `${files.size}.sqlite`);
    if (found) for (const ext of ['', '-wal']) if (existsSync(found + ext)) copyFileSync(found + ext, mapped + ext);
    files.set(name, mapped);
  }
  let db: Database.Database;
  try {
    db = new Database(mapped, { readonly });
  } catch {
    db = new Database(mapped);
  }
  return { db, stmts: new Map(), merged: 0 };
}

/** A statement of the phase counted: its time since `t`, and its transaction's if it ends one. */
function account(out: Replayed, c: Conn, sql: string, t: number): void {
  const now = performance.now();
  out.statements++;
  const key = sql.replace(/\s+/g, ' ').slice(0, 100);
  const s = out.bySql.get(key) ?? { ms: 0, n: 0 };
  s.ms += now - t;
  s.n++;
  out.bySql.set(key, s);
  if (/^BEGIN/i.test(sql)) c.began = t;
  else if (/^COMMIT/i.test(sql)) {
    out.commits++;
    if (c.began !== undefined) out.transactions.push(now - c.began);
  }
}

/**
 * Replays one process's capture; its files are `files`' (a file another process made before, as `tillbridge-hub
 * init` makes the hub's, is the same file again), new ones made in `into`. Times the entries inside the phase.
 */
function replay(
  file: string,
  entries: Entry[],
  files: Map<string, string>,
  into: string,
  phase: Phase,
  merge: number,
): Replayed {
  const names = entries.filter((e) => e[2] === 'open').map((e) => e[3]);
  const label = names.some((n) => n.includes('/hub/'))
    ? 'hub'
    : names.some((n) => n.includes('/agent/'))
      ? 'agent'
      : file;
  const conns = new Map<number, Conn>();
  const out: Replayed = {
    label,
    statements: 0,
    commits: 0,
    wallMs: 0,
    cpuMs: 0,
    mismatches: 0,
    bySql: new Map(),
    transactions: [],
  };
  let t0 = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  for (const [at, conn, method, sql, params, ok, extra] of entries) {
    if (at > phase.end) break;
    if (method === 'open') {
      conns.set(conn, open(sql, params === true, extra as string | null | undefined, files, into));
      continue;
    }
    const inPhase = at >= phase.start;
    if (inPhase && !cpu0) {
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    }
    const c = conns.get(conn);
    if (!c) throw new Error(`${file}: a statement on connection ${conn}, which was never opened`);
    if (inPhase && merge > 1) {
      if (/^BEGIN/i.test(sql) && c.db.inTransaction) continue;
      if (/^COMMIT/i.test(sql) && ++c.merged % merge !== 0) continue;
      // the agent's commits without an fsync set `synchronous` around them: inside one merged commit, moot
      if (/^PRAGMA synchronous\s*=/i.test(sql) && c.db.inTransaction) continue;
    }
    const t = inPhase ? performance.now() : 0;
    const err = execute(c, method, sql, params as unknown[]);
    if (inPhase) account(out, c, sql, t);
    if (err && ok === 1 && !out.firstMismatch) out.firstMismatch = `${sql.slice(0, 120)}: ${err.message}`;
    if (!err !== (ok === 1)) out.mismatches++;
  }
  for (const c of conns.values())
    if (c.db.inTransaction) {
      c.db.exec('COMMIT');
      out.commits++;
    }
  if (cpu0) {
    out.wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    out.cpuMs = (cpu.user + cpu.system) / 1000;
  }
  for (const c of conns.values()) c.db.close();
  return out;
}

/** DIR/phases.json: each phase the bench noted */
function phaseOf(dir: string, name: string): Phase {
  const phase = (JSON.parse(readFileSync(join(dir, 'phases.json'), 'utf8')) as Record<string, Phase>)[name];
  if (!phase) throw new Error(`${dir}/phases.json has no phase ${name}`);
  return phase;
}

/** Every process's capture in the order it started (a hub's `init` before its `serve`), on one set of files. */
function replayAll(dir: string, into: string, phase: Phase, merge: number, group: number): Replayed[] {
  const captures = readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => ({ file: n, entries: read(join(dir, n)) }))
    .filter((c) => c.entries.length > 0)
    .sort((a, b) => (a.entries[0]?.[0] ?? 0) - (b.entries[0]?.[0] ?? 0));
  const files = new Map<string, string>();
  const results: Replayed[] = [];
  for (const c of captures) {
    // REPLAY_GROUP=S: as many of the phase's transactions as one as make S operations a commit on average
    const commits = c.entries.filter((e) => e[0] >= phase.start && e[0] <= phase.end && /^COMMIT/i.test(e[3])).length;
    const k = group > 0 ? Math.max(1, Math.round((group * commits) / phase.count)) : merge;
    const r = replay(c.file, c.entries, files, into, phase, k);
    r.merge = k;
    if (r.statements > 0) results.push(r);
  }
  return results;
}

function print(phase: Phase, results: Replayed[], floor: number, top: number): void {
  const per = (ms: number): string => `${((ms * 1000) / phase.count).toFixed(1)} µs a ${phase.unit}`;
  const share = (ms: number): string =>
    phase.unit === 'sale' ? `, ${((100 * phase.count * 1000) / ms / floor).toFixed(1)} % of the floor` : '';
  for (const r of results) {
    const tx = summarizeOrNull(r.transactions);
    process.stdout.write(
      `  ${r.label.padEnd(6)} ${r.statements} statements, ${r.commits} commits` +
        `${(r.merge ?? 1) > 1 ? ` (${r.merge} as one)` : ''}: ${per(r.wallMs)} ` +
        `(${((phase.count * 1000) / r.wallMs).toFixed(0)}/s${share(r.wallMs)}), CPU ${per(r.cpuMs)}` +
        (tx ? `; a transaction p50 ${ms(tx.p50)}, p99 ${ms(tx.p99)}` : '') +
        `${r.mismatches ? `; ${r.mismatches} did not do as captured (${r.firstMismatch ?? 'threw no more'})` : ''}\n`,
    );
  }
  for (const r of top > 0 ? results : []) {
    process.stdout.write(
      `  ${r.label}: its ${top} statements that took longest in the phase (µs a ${phase.unit}, calls)\n`,
    );
    for (const [sql, s] of [...r.bySql].sort((a, b) => b[1].ms - a[1].ms).slice(0, top))
      process.stdout.write(
        `    ${((s.ms * 1000) / phase.count).toFixed(1).padStart(6)} ${String(s.n).padStart(6)}  ${sql}\n`,
      );
  }
  const wall = results.reduce((s, r) => s + r.wallMs, 0);
  const cpu = results.reduce((s, r) => s + r.cpuMs, 0);
  process.stdout.write(
    `  both, one after the other: ${per(wall)} (${((phase.count * 1000) / wall).toFixed(0)}/s${share(wall)}); ` +
      `CPU ${per(cpu)}\n`,
  );
}

function summarizeOrNull(xs: number[]): Summary | undefined {
  return xs.length ? summarize(xs) : undefined;
}

function main(): void {
  const dir = process.argv[2] ?? process.env.TB_SQL_CAPTURE;
  if (!dir) throw new Error('usage: sql-replay DIR (a capture of sql-capture.ts, with phases.json)');
  const name = process.env.REPLAY_PHASE ?? 'throughput';
  const phase = phaseOf(dir, name);
  const merge = Number(process.env.REPLAY_MERGE ?? 1);
  const group = Number(process.env.REPLAY_GROUP ?? 0);
  const work = mkdtempSync(join(tmpdir(), 'tb-replay-'));
  try {
    const floor = sqliteFloor(work, 20_000, 100);
    const took = phase.end - phase.start;
    process.stdout.write(
      `${name} phase: ${phase.count} ${phase.unit}s in ${took.toFixed(0)} ms ` +
        `(${((phase.count * 1000) / took).toFixed(0)}/s)\n` +
        `floor: group commit of sale + line, 100 a transaction: ${floor.perSecond.toFixed(0)} sales/s; ` +
        `30 % of it ${(0.3 * floor.perSecond).toFixed(0)} sales/s\n` +
        (phase.floors ? `floors measured in the bench's run: ${JSON.stringify(phase.floors)}\n` : '') +
        `replayed${
          group > 0
            ? ` (the phase's transactions committed ${group} ${phase.unit}s a commit)`
            : merge > 1
              ? ` (every ${merge} of the phase's transactions committed as one)`
              : ', as the processes committed'
        }:\n`,
    );
    // REPLAY_INTO=DIR keeps the replayed files there (0.sqlite, 1.sqlite, … in the order the capture opened them)
    const into = process.env.REPLAY_INTO ?? mkdtempSync(join(work, 'files-'));
    mkdirSync(into, { recursive: true });
    const results = replayAll(dir, into, phase, merge, group);
    print(phase, results, floor.perSecond, Number(process.env.REPLAY_TOP ?? 0));
    if (process.argv.includes('--json')) {
      const json = results.map(({ bySql: _, transactions, ...r }) => ({
        ...r,
        transaction: summarizeOrNull(transactions),
      }));
      process.stdout.write(
        `${JSON.stringify({ name, phase, floorSalesPerSecond: floor.perSecond, group, merge, results: json })}\n`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
