import { copyFileSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, startingAt, type DoctorReport } from '@tillbridge/shared';
import { initHub } from '../src/hub.js';
import { hubDoctor } from '../src/cli/commands/doctor.js';
import { hubDbPath, SQLITE_SCHEMA_VERSION } from '../src/storage/index.js';
import { setUserVersion } from '../../test/support/schema-fixtures.js';

/** `tillbridge-hub doctor` on real SQLite data directories, each spoiled in one way. */
const root = mkdtempSync(join(tmpdir(), 'tb-hub-doctor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const silent = createLogger({ name: 't', level: 'silent' });
const clock = startingAt(Date.parse('2026-06-01T00:00:00Z'));

function fresh(name: string): string {
  const dir = join(root, name);
  initHub(dir, silent);
  return dir;
}
const run = (dataDir: string): Promise<DoctorReport> => hubDoctor({ dataDir, listen: '127.0.0.1:0', clock });
const get = (r: DoctorReport, id: string): DoctorReport['findings'][number] | undefined =>
  r.findings.find((f) => f.id === id);

describe('tillbridge-hub doctor', () => {
  it('a fresh hub: no error', async () => {
    const r = await run(fresh('ok'));
    expect(r.findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('another hub.secret than the database was made with is an error saying to copy the right one', async () => {
    const dir = fresh('other-secret');
    writeFileSync(join(dir, 'hub.secret'), randomBytes(32).toString('base64'), { mode: 0o600 });
    expect(get(await run(dir), 'hub.secret.matches')).toMatchObject({
      level: 'error',
      action: expect.stringMatching(/copy hub.secret/),
    });
  });

  it('a missing hub.secret is an error', async () => {
    const dir = fresh('no-secret');
    rmSync(join(dir, 'hub.secret'));
    expect(get(await run(dir), 'hub.secret')).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/missing/),
    });
  });

  it('a database newer than this binary is an error; an older one a warning (serve upgrades it)', async () => {
    const dir = fresh('schema');
    setUserVersion(hubDbPath(dir), SQLITE_SCHEMA_VERSION + 1);
    expect(get(await run(dir), 'database.schema')).toMatchObject({
      level: 'error',
      action: expect.stringMatching(/older than the one/),
    });
    setUserVersion(hubDbPath(dir), SQLITE_SCHEMA_VERSION - 1);
    expect(get(await run(dir), 'database.schema')).toMatchObject({
      level: 'warning',
      action: expect.stringMatching(/backup/),
    });
  });

  it('a damaged database file fails quick_check', async () => {
    const dir = fresh('damaged');
    const file = hubDbPath(dir);
    const copy = `${file}.orig`;
    copyFileSync(file, copy);
    const bytes = readFileSync(copy);
    // scribble over the pages after the first (the header stays readable)
    for (let i = 4096 + 100; i < bytes.length; i += 7) bytes[i] = 0xa5;
    writeFileSync(file, bytes);
    const r = await run(dir);
    const f = get(r, 'database.integrity') ?? get(r, 'database.reachable') ?? get(r, 'database.schema');
    expect(f).toMatchObject({ level: 'error' });
    expect(r.ok).toBe(false);
  });

  it(
    'an audit entry changed since the last checkpoint breaks the chain: an error saying to keep the database and ' +
      'run audit verify',
    async () => {
      const dir = fresh('audit');
      expect(get(await run(dir), 'audit.chain')).toMatchObject({
        level: 'ok',
        message: expect.stringMatching(/the 1 audit entries since the start link and hash correctly/),
      });
      const db = new Database(hubDbPath(dir));
      db.prepare(`UPDATE audit SET outcome = 'tampered' WHERE id = 1`).run();
      db.close();
      expect(get(await run(dir), 'audit.chain')).toMatchObject({
        level: 'error',
        message: expect.stringMatching(/entry 1 was changed/),
        action: expect.stringMatching(/audit verify/),
      });
    },
  );

  it('a listen address held by another program is an error', async () => {
    const { createServer } = await import('node:net');
    const s = createServer();
    await new Promise<void>((done) => s.listen(0, '127.0.0.1', done));
    const port = (s.address() as { port: number }).port;
    try {
      const r = await hubDoctor({ dataDir: fresh('listen'), listen: `127.0.0.1:${port}`, clock });
      expect(get(r, 'listen')).toMatchObject({
        level: 'error',
        message: expect.stringMatching(/in use by another program/),
      });
    } finally {
      s.close();
    }
  });
});
