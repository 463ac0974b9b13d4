import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentDbPath, openAgentDb, setMeta } from '../src/db/agent-db.js';

const modes = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]));

let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tb-agent-modes-'));
  umask = process.umask(0o022); // a usual umask: without care, SQLite makes its files 0644
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

describe.runIf(process.platform !== 'win32')("the agent's database files", () => {
  it('are 0600 — database, -wal and -shm — in a data directory that already exists at 0755', () => {
    const dir = join(root, 'data');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const db = openAgentDb(dir);
    setMeta(db, 'x', 'y'); // something in the WAL
    expect(modes(dir)).toEqual({ 'agent.sqlite': '600', 'agent.sqlite-wal': '600', 'agent.sqlite-shm': '600' });
    db.close();
  });

  it('made 0644 by an older version, are narrowed to 0600 when opened', () => {
    const dir = join(root, 'old');
    mkdirSync(dir);
    const old = new Database(agentDbPath(dir));
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE t (x)');
    expect(modes(dir)['agent.sqlite-wal']).toBe('644');
    const db = openAgentDb(dir);
    old.close();
    setMeta(db, 'x', 'y');
    for (const [f, m] of Object.entries(modes(dir))) expect(m, f).toBe('600');
    db.close();
  });
});
