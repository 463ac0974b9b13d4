import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { sha256File, type BackupManifest } from '@tillbridge/shared';
import { initHub } from '../src/hub.js';
import { openHub, type Hub } from '../src/hub-services.js';
import { backupHub, restoreHub } from '../src/backup.js';
import { backupCommands } from '../src/cli/commands/backup.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';
import { runCli } from './cli-run.js';
import { seedSale, silent, TestClock } from './helpers.js';

/**
 * tillbridge-hub backup and restore on real SQLite files (the end-to-end test runs the binaries):
 * an online copy of a hub that is open and writing, what a restore checks and refuses, and the
 * audit chain and hub.secret verified after it. SQLite only: a hub on PostgreSQL backs up its key
 * files and is dumped with pg_dump (test/e2e/backup.e2e.test.ts covers that output).
 */

let root: string;
let clock: TestClock;
tempDirForEachTest('tb-backup-', (dir) => (root = dir));
beforeEach(() => {
  clock = new TestClock();
});

function newHub(name = 'hub'): { dir: string; hub: Hub } {
  const dir = join(root, name);
  initHub(dir, silent, clock);
  return { dir, hub: openHub({ dataDir: dir, tokenLifetimeSec: 900, log: silent, clock }) };
}

const manifestOf = (dir: string): BackupManifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BackupManifest;

/**
 * Rewrites the manifest's size and checksum of `name` after the file was changed (a forger, or a careless copy-back).
 */
function resum(dir: string, name: string): void {
  const m = manifestOf(dir);
  const f = m.files.find((x) => x.name === name)!;
  f.sha256 = sha256File(join(dir, name));
  f.bytes = statSync(join(dir, name)).size;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
}

describe('backupHub', () => {
  it(
    'copies an open, writing hub online: the newest commit (still in the WAL), hub.secret and the signing key, 0600 ' +
      'in a 0700 directory',
    async () => {
      const { dir, hub } = newHub();
      try {
        seedSale(hub, 'S1', 'R-1');
        hub.auditTrail.checkpoints.create('test'); // makes the signing key and signs the head
        seedSale(hub, 'S1', 'R-2'); // committed to the WAL, not checkpointed into hub.sqlite
        expect(existsSync(join(dir, 'hub.sqlite-wal'))).toBe(true);
        const out = join(root, 'b');
        const r = await backupHub(dir, out, { clock });
        expect(r.manifest).toMatchObject({
          format: 'tillbridge-hub-backup/1',
          engine: 'sqlite',
          createdAt: '2026-11-27T10:00:00.000Z',
          schemaVersion: expect.any(Number),
        });
        expect(r.manifest.files.map((f) => [f.name, f.role])).toEqual([
          ['hub.sqlite', 'database'],
          ['hub.secret', 'secret'],
          ['audit-signing-key.pem', 'signing-key'],
        ]);
        expect(readdirSync(out).sort()).toEqual(['audit-signing-key.pem', 'hub.secret', 'hub.sqlite', 'manifest.json']);
        expect(statSync(out).mode & 0o777).toBe(0o700);
        for (const f of readdirSync(out)) expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600);
        for (const f of r.manifest.files) expect(sha256File(join(out, f.name))).toBe(f.sha256);
        // a single file (no WAL needed) holding both sales
        const copy = new Database(join(out, 'hub.sqlite'), { readonly: true });
        expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
        expect(copy.prepare(`SELECT receipt FROM sales ORDER BY receipt`).pluck().all()).toEqual(['R-1', 'R-2']);
        copy.close();
        // the hub went on writing while and after it was copied
        seedSale(hub, 'S1', 'R-3');
      } finally {
        hub.close();
      }
    },
  );

  it('refuses a directory that is not a hub, and a backup directory that is not empty', async () => {
    await expect(backupHub(join(root, 'nothing'), join(root, 'b'), { clock })).rejects.toThrow(
      /no hub in .*hub\.secret is missing/,
    );
    const { dir, hub } = newHub();
    hub.close();
    await backupHub(dir, join(root, 'b'), { clock });
    await expect(backupHub(dir, join(root, 'b'), { clock })).rejects.toThrow(/already holds a backup/);
  });
});

describe('restoreHub', () => {
  async function backedUp(): Promise<{ dir: string; out: string }> {
    const { dir, hub } = newHub();
    seedSale(hub, 'S1', 'R-1');
    hub.auditTrail.checkpoints.create('test');
    hub.close();
    const out = join(root, 'b');
    await backupHub(dir, out, { clock });
    return { dir, out };
  }

  it('restores into a new directory and verifies the chain and hub.secret; the restored hub opens', async () => {
    const { out } = await backedUp();
    const data = join(root, 'restored');
    const r = restoreHub(out, data, { clock });
    expect(r.secretMatches).toBe(true);
    expect(r.audit).toMatchObject({ ok: true, checkpoints: 1 });
    expect(r.keptAside).toEqual([]);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    for (const f of ['hub.sqlite', 'hub.secret', 'audit-signing-key.pem'])
      expect(statSync(join(data, f)).mode & 0o777, f).toBe(0o600);
    const hub = openHub({ dataDir: data, tokenLifetimeSec: 900, log: silent, clock });
    try {
      expect(hub.storage.db.prepare(`SELECT receipt FROM sales`).all()).toEqual([{ receipt: 'R-1' }]);
    } finally {
      hub.close();
    }
  });

  it('refuses a hub that is open (serving), with or without --force, and an existing one without --force', async () => {
    const { dir, out } = await backedUp();
    const live = openHub({ dataDir: dir, tokenLifetimeSec: 900, log: silent, clock });
    try {
      expect(() => restoreHub(out, dir, { clock })).toThrow(/a hub is serving from/);
      expect(() => restoreHub(out, dir, { force: true, clock })).toThrow(/a hub is serving from/);
    } finally {
      live.close();
    }
    expect(() => restoreHub(out, dir, { clock })).toThrow(
      /already holds a hub \(hub\.sqlite, hub\.secret, audit-signing-key\.pem\).*--force/,
    );
    // with --force: what it replaced is kept aside
    clock.advance(1000);
    const r = restoreHub(out, dir, { force: true, clock });
    expect(r.audit.ok).toBe(true);
    expect(r.keptAside.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      'audit-signing-key.pem.before-restore-2026-11-27T10-00-01Z',
      'hub.secret.before-restore-2026-11-27T10-00-01Z',
      'hub.sqlite.before-restore-2026-11-27T10-00-01Z',
    ]);
  });

  it('refuses a damaged, incomplete or foreign backup naming what is wrong, and changes nothing', async () => {
    const { out } = await backedUp();
    const data = join(root, 'restored');
    const db = readFileSync(join(out, 'hub.sqlite'));
    db[100] = db[100]! ^ 1;
    writeFileSync(join(out, 'hub.sqlite'), db);
    expect(() => restoreHub(out, data, { clock })).toThrow(/hub\.sqlite does not match its checksum in the manifest/);
    writeFileSync(join(out, 'hub.sqlite'), db.subarray(0, 4096));
    expect(() => restoreHub(out, data, { clock })).toThrow(/hub\.sqlite is 4096 bytes, the manifest says \d+/);
    rmSync(join(out, 'audit-signing-key.pem'));
    expect(() => restoreHub(out, data, { clock })).toThrow(/audit-signing-key\.pem \(signing-key\) is missing/);
    expect(existsSync(data)).toBe(false);

    const m = manifestOf(out);
    writeFileSync(join(out, 'manifest.json'), JSON.stringify({ ...m, format: 'tillbridge-agent-backup/1' }));
    expect(() => restoreHub(out, data, { clock })).toThrow(
      new RegExp(
        'expected "format": "tillbridge-hub-backup/1", got "tillbridge-agent-backup/1" ' +
          '\\(a backup of the other program\\?\\)',
      ),
    );
    writeFileSync(join(out, 'manifest.json'), '{ not json');
    expect(() => restoreHub(out, data, { clock })).toThrow(/manifest\.json is not JSON/);
    rmSync(join(out, 'manifest.json'));
    expect(() => restoreHub(out, data, { clock })).toThrow(/holds no manifest\.json/);
    expect(existsSync(data)).toBe(false);
  });

  // only root can give a directory to another user
  it.skipIf(process.getuid?.() !== 0)(
    "refuses a data directory another user owns (the restored files would be this user's)",
    async () => {
      const { out } = await backedUp();
      const data = join(root, 'theirs');
      mkdirSync(data, { mode: 0o700 });
      chownSync(data, 65534, 65534);
      expect(() => restoreHub(out, data, { clock })).toThrow(/theirs belongs to uid 65534: run this as that user/);
      expect(readdirSync(data)).toEqual([]);
    },
  );

  it('refuses a backup from a newer hub', async () => {
    const { out } = await backedUp();
    const m = manifestOf(out);
    writeFileSync(
      join(out, 'manifest.json'),
      JSON.stringify({ ...m, schemaVersion: 999, software: 'tillbridge-hub/9.0.0' }),
    );
    expect(() => restoreHub(out, join(root, 'restored'), { clock })).toThrow(
      /taken by a newer hub \(tillbridge-hub\/9\.0\.0, schema 999/,
    );
  });

  it(
    'restores, ' +
      'then says so when the audit chain does not verify or hub.secret does not open the database (exit 5)',
    async () => {
      const { out } = await backedUp();
      const copy = new Database(join(out, 'hub.sqlite'));
      copy.prepare(`UPDATE audit SET outcome = 'tampered' WHERE id = 1`).run();
      copy.close();
      resum(out, 'hub.sqlite');
      const data = join(root, 'restored');
      const r = restoreHub(out, data, { clock });
      expect(r.audit).toMatchObject({ ok: false, firstBad: 1 });
      expect(r.secretMatches).toBe(true);

      writeFileSync(join(out, 'hub.secret'), Buffer.alloc(32, 7).toString('base64'));
      resum(out, 'hub.secret');
      const cli = await runCli(backupCommands, 'http://127.0.0.1:9', '', [
        'restore',
        out,
        '--data',
        join(root, 'restored-2'),
      ]);
      expect(cli.code).toBe(5);
      expect(cli.stdout).toMatch(/HUB\.SECRET DOES NOT MATCH THE DATABASE/);
      expect(cli.stdout).toMatch(/AUDIT LOG BROKEN at entry 1/);
      expect(cli.stdout).not.toMatch(/Next:/);
    },
  );

  it('through the CLI: exit 2 for a damaged backup, 6 over a hub without --force', async () => {
    const { dir, out } = await backedUp();
    const over = await runCli(backupCommands, 'http://127.0.0.1:9', '', ['restore', out, '--data', dir]);
    expect(over.code).toBe(6);
    expect(over.stderr).toMatch(/already holds a hub/);
    writeFileSync(join(out, 'hub.secret'), 'changed');
    const bad = await runCli(backupCommands, 'http://127.0.0.1:9', '', ['restore', out, '--data', join(root, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/hub\.secret is \d+ bytes, the manifest says/);
  });
});
