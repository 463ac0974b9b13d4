import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { agentDbPath, openAgentDb, setMeta } from '../src/db/agent-db.js';
import { fileModes, usualUmaskForEachTest } from '../../test/support/file-modes.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';

let root: string;
tempDirForEachTest('tb-agent-modes-', (d) => (root = d));
usualUmaskForEachTest();

describe.runIf(process.platform !== 'win32')("the agent's database files", () => {
  it('are 0600 — database, -wal and -shm — in a data directory that already exists at 0755', () => {
    const dir = join(root, 'data');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const db = openAgentDb(dir);
    setMeta(db, 'x', 'y'); // something in the WAL
    expect(fileModes(dir)).toEqual({ 'agent.sqlite': '600', 'agent.sqlite-wal': '600', 'agent.sqlite-shm': '600' });
    db.close();
  });

  it('made 0644 by an older version, are narrowed to 0600 when opened', () => {
    const dir = join(root, 'old');
    mkdirSync(dir);
    const old = new Database(agentDbPath(dir));
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE t (x)');
    expect(fileModes(dir)['agent.sqlite-wal']).toBe('644');
    const db = openAgentDb(dir);
    old.close();
    setMeta(db, 'x', 'y');
    for (const [f, m] of Object.entries(fileModes(dir))) expect(m, f).toBe('600');
    db.close();
  });
});
