/**
 * The bench's statement capture and replay (bench/sql-capture.ts, bench/sql-replay.ts), which docs/benchmarks.md's
 * floor of the data model rests on: a real child process writes a real SQLite file with the capture preloaded, the
 * replay runs its statements again on a fresh file, and the replayed file must hold what the child's holds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { tempDirForEachTest } from './support/temp-dir.js';

const CAPTURE = join(ROOT, 'bench', 'dist', 'sql-capture.js');
const REPLAY = join(ROOT, 'bench', 'dist', 'sql-replay.js');

/**
 * What the child does: on a file made before it started (as `tillbridge-hub init` makes the hub's), ten transactions
 * of two savepoints each, with a blob, a bigint and a null; a statement that fails; a read; an index made by `exec`.
 */
const CHILD = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const insert = db.prepare('INSERT INTO t (id, body, blob, big) VALUES (?, ?, ?, ?)');
const one = db.transaction((row) => insert.run(...row));
const two = db.transaction((a, b) => { one(a); one(b); });
for (let i = 0; i < 10; i++)
  two([2 * i, 'sale ' + i, Buffer.from([i, 255]), 2n ** 60n + BigInt(i)], [2 * i + 1, null, null, null]);
try { insert.run(0, 'twice', null, null); } catch {}
db.prepare('SELECT * FROM t WHERE id > ?').all(3);
db.exec('CREATE INDEX t_body ON t (body)');
db.close();
`;

interface Replay {
  results: { statements: number; commits: number; mismatches: number; firstMismatch?: string }[];
}

let dir = '';
tempDirForEachTest('tb-sql-replay-', (d) => (dir = d));

/** The child run with the capture preloaded, on a file made before it; the capture's directory. */
function capture(): { file: string; captured: string } {
  const file = join(dir, 'data.sqlite');
  const made = new Database(file);
  made.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, blob BLOB, big INTEGER)');
  made.close();
  const captured = join(dir, 'capture');
  execFileSync(process.execPath, [`--import=${CAPTURE}`, '-e', CHILD, file], {
    cwd: ROOT,
    env: { ...process.env, TB_SQL_CAPTURE: captured },
  });
  // the whole run as the phase
  mkdirSync(captured, { recursive: true });
  writeFileSync(
    join(captured, 'phases.json'),
    JSON.stringify({ throughput: { start: 0, end: 8.64e15, count: 20, unit: 'sale' } }),
  );
  return { file, captured };
}

function replay(captured: string, into: string, env: Record<string, string> = {}): Replay {
  const out = execFileSync(process.execPath, [REPLAY, captured, '--json'], {
    cwd: ROOT,
    env: { ...process.env, REPLAY_INTO: into, ...env },
    encoding: 'utf8',
  });
  const json = out.split('\n').find((l) => l.startsWith('{'));
  if (!json) throw new Error(`no JSON line in:\n${out}`);
  return JSON.parse(json) as Replay;
}

function rows(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return [
      db.prepare('SELECT * FROM t ORDER BY id').all(),
      db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name = 't_body'`).all(),
    ];
  } finally {
    db.close();
  }
}

describe('the bench’s statement capture and replay', () => {
  it('replays what a process ran into a file that holds what the process’s file holds', () => {
    const { file, captured } = capture();
    const into = join(dir, 'replayed');

    const r = replay(captured, into);

    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ commits: 10, mismatches: 0 });
    // 2 pragmas, 10 × (BEGIN, 2 × (SAVEPOINT, INSERT, RELEASE), COMMIT), the failing insert, the read, the exec
    expect(r.results[0]?.statements).toBe(2 + 10 * 8 + 3);
    const original = rows(file);
    expect((original[0] as unknown[]).length).toBe(20);
    expect(rows(join(into, '0.sqlite'))).toEqual(original);
  });

  it('commits K of the transactions as one when asked, with the same rows', () => {
    const { file, captured } = capture();
    const into = join(dir, 'merged');

    const r = replay(captured, into, { REPLAY_MERGE: '5' });

    expect(r.results[0]).toMatchObject({ commits: 2, mismatches: 0 });
    expect(rows(join(into, '0.sqlite'))).toEqual(rows(file));
  });

  it('counts what does not do as captured: here, without the copy of the file as the process found it', () => {
    const { captured } = capture();
    for (const f of readdirSync(captured).filter((n) => n.endsWith('.sqlite')))
      rmSync(join(captured, f), { force: true });

    const r = replay(captured, join(dir, 'without'));

    expect(r.results[0]?.mismatches).toBeGreaterThan(0);
    expect(r.results[0]?.firstMismatch).toMatch(/no such table: t/);
  });
});
