import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkDataDir, preparePrivateSqlite, writePrivateFile } from '../src/index.js';

const unix = process.platform !== 'win32';
const mode = (f: string): number => statSync(f).mode & 0o777;

let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tb-modes-'));
  umask = process.umask(0); // the most permissive umask: what we make must be private anyway
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

function dirWithMode(name: string, m: number): string {
  const d = join(root, name);
  mkdirSync(d);
  chmodSync(d, m);
  return d;
}

describe.runIf(unix)('data directory permissions', () => {
  it('accepts a 0700 directory and one that does not exist yet', () => {
    expect(checkDataDir(dirWithMode('ok', 0o700))).toEqual([]);
    expect(checkDataDir(join(root, 'not-yet'))).toEqual([]);
  });

  it('warns on a directory group or others may read, naming it, its mode and the fix', () => {
    const d = dirWithMode('open', 0o755);
    expect(checkDataDir(d)).toEqual([
      {
        level: 'warning',
        message: `data directory ${d} can be read by group or others (mode 0755): expected 0700 (chmod 700 ${d})`,
      },
    ]);
  });

  it('refuses a directory group or others may write', () => {
    for (const m of [0o775, 0o777, 0o1777, 0o730]) {
      const d = dirWithMode(`w${m.toString(8)}`, m);
      expect(checkDataDir(d), m.toString(8)).toEqual([
        expect.objectContaining({
          level: 'error',
          message: expect.stringContaining(`data directory ${d} is writable by group or others`),
        }),
      ]);
    }
    const f = join(root, 'file');
    writeFileSync(f, '');
    expect(checkDataDir(f)).toEqual([
      { level: 'error', message: `data directory ${f}: expected a directory, found a file` },
    ]);
  });

  it('warns on each file in it that others may read', () => {
    const d = dirWithMode('files', 0o700);
    writeFileSync(join(d, 'agent.sqlite'), '', { mode: 0o644 });
    writeFileSync(join(d, 'private'), '', { mode: 0o600 });
    expect(checkDataDir(d)).toEqual([
      {
        level: 'warning',
        message: expect.stringMatching(/agent\.sqlite can be read by group or others \(mode 0644\): expected 0600/),
      },
    ]);
  });

  it('says nothing on Windows, which has no such modes', () => {
    expect(checkDataDir(dirWithMode('win', 0o777), 'win32')).toEqual([]);
  });
});

describe.runIf(unix)('private files', () => {
  it('creates a database file 0600 and narrows the ones left from before, in a 0755 directory under umask 0', () => {
    const d = dirWithMode('db', 0o755);
    const db = join(d, 'x.sqlite');
    preparePrivateSqlite(db, true);
    expect(mode(db)).toBe(0o600);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      writeFileSync(f, 'x');
      chmodSync(f, 0o644);
    }
    preparePrivateSqlite(db, false);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) expect(mode(f), f).toBe(0o600);
  });

  it('writes a file whole at 0600, also over one that was readable by others', () => {
    const f = join(dirWithMode('w', 0o755), 'run.json');
    writeFileSync(f, 'old', { mode: 0o644 });
    writePrivateFile(f, 'new');
    expect(mode(f)).toBe(0o600);
  });
});
