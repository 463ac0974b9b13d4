/**
 * A preload that records every SQL statement a process runs through better-sqlite3, for `sql-replay.ts`: start the
 * bench with `TB_SQL_CAPTURE=DIR TILLBRIDGE_NODE_ARGS=--import=ABSOLUTE/bench/dist/sql-capture.js`, and the hub and
 * the agent each write DIR/PID.jsonl. Bench-only: nothing in the product loads it.
 *
 * One JSON array a line: `[at, conn, method, sql, params, ok]`, `at` the epoch in ms (fractional), `conn` a number per
 * connection, `method` the statement's (`run`, `get`, `all`, `iterate`) or `exec`, `ok` 0 where it threw. A
 * connection's first line is `[at, conn, "open", name, readonly, memory, copy]`, `copy` the file as the connection
 * found it, copied into DIR (null where there was none yet). A transaction's BEGIN, COMMIT, SAVEPOINT
 * and RELEASE are statements better-sqlite3 runs through the same `run`, and pragmas through `all` or `get`, so they
 * are recorded as any other statement, in order.
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (this: any, ...args: any[]) => unknown;
interface Db {
  name: string;
  readonly: boolean;
  memory: boolean;
  prepare(sql: string): Stmt;
  exec: AnyFn;
}
interface Stmt {
  source: string;
  database: Db;
}

const dir = process.env.TB_SQL_CAPTURE;
if (dir) install(dir);

/** Buffers, bigints and undefined as JSON can carry them (`sql-replay.ts` reads them back). */
function encode(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (value === undefined) return null;
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && 'data' in value)
    return { $b: Buffer.from((value as { data: number[] }).data).toString('base64') };
  return value;
}

function install(to: string): void {
  mkdirSync(to, { recursive: true });
  const file = join(to, `${process.pid}.jsonl`);
  const lines: string[] = [];
  const flush = (): void => {
    if (lines.length) appendFileSync(file, `${lines.join('\n')}\n`);
    lines.length = 0;
  };
  const record = (entry: unknown[]): void => {
    lines.push(JSON.stringify(entry, encode));
    if (lines.length >= 2000) flush();
  };
  process.on('exit', flush);

  // the better-sqlite3 the checkout's hub and agent load: the one beside this file's workspace
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as { new (file: string): Db; prototype: Db };
  const ids = new WeakMap<Db, number>();
  let conns = 0;
  const connOf = (db: Db): number => {
    let id = ids.get(db);
    if (id === undefined) {
      id = ++conns;
      ids.set(db, id);
      // the file as this process found it (a hub's `init` may have run elsewhere): replayed from there
      let found: string | null = null;
      if (!db.memory && existsSync(db.name)) {
        found = join(to, `${process.pid}-${id}.sqlite`);
        for (const ext of ['', '-wal']) if (existsSync(db.name + ext)) copyFileSync(db.name + ext, found + ext);
      }
      record([performance.timeOrigin + performance.now(), id, 'open', db.name, db.readonly, db.memory, found]);
    }
    return id;
  };
  const probe = new Database(':memory:');
  const statement = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, AnyFn>;
  (probe as unknown as { close(): void }).close();
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = statement[method];
    if (!original) throw new Error(`better-sqlite3's statements have no ${method}`);
    statement[method] = function (this: Stmt, ...params: unknown[]) {
      const at = performance.timeOrigin + performance.now();
      const conn = connOf(this.database);
      try {
        const result = original.apply(this, params);
        record([at, conn, method, this.source, params, 1]);
        return result;
      } catch (err) {
        record([at, conn, method, this.source, params, 0]);
        throw err;
      }
    };
  }
  const exec = Database.prototype.exec;
  Database.prototype.exec = function (this: Db, sql: unknown) {
    const at = performance.timeOrigin + performance.now();
    const conn = connOf(this);
    try {
      const result = exec.call(this, sql);
      record([at, conn, 'exec', sql, [], 1]);
      return result;
    } catch (err) {
      record([at, conn, 'exec', sql, [], 0]);
      throw err;
    }
  };
}
