import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { describePg } from '../../test/support/pg.js';
import { initHub, startHub } from '../src/hub.js';
import { openHub } from '../src/hub-services.js';
import { storageCommands, type MigrateOutput } from '../src/cli/commands/storage.js';
import { auditCommands } from '../src/cli/commands/audit.js';
import { hubDbPath, openSqliteStorage } from '../src/storage/index.js';
import { openPostgresStorage } from '../src/storage/postgres.js';
import { copySqliteToPostgres, describeSqlite } from '../src/storage/copy.js';
import { pgConnect, selectPostgres, selectSqlite, snapshot } from './schema-rows.js';
import { seedSale, silent, TestClock } from './helpers.js';
import { runCli } from './cli-run.js';
import type { CliContext } from '../src/cli/context.js';

/**
 * `tillbridge-hub storage migrate`: a SQLite hub copied into an empty PostgreSQL database, every
 * table row for row, in one transaction; the copy is a hub that serves, whose audit chain verifies
 * and whose sealed columns the data directory's hub.secret opens. Refused while a hub serves from
 * the directory, into a database that is not empty, with another hub.secret; a copy that fails
 * half-way leaves the database empty.
 */

/** Runs `tillbridge-hub …` (the storage and audit commands) in-process: stdout, stderr, exit code. */
const cli = (args: string[]): ReturnType<typeof runCli> =>
  runCli(mountStorageAndAudit, 'http://127.0.0.1:9', undefined, args);
function mountStorageAndAudit(ctx: CliContext): void {
  storageCommands(ctx);
  auditCommands(ctx);
}

await describePg('tillbridge-hub storage migrate (SQLite → PostgreSQL)', () => {
  let root: string;
  let dir: string;
  let apiKey: string;
  let pendingSecret: string;
  const clock = new TestClock();
  const dbs: TestDatabase[] = [];
  const newDb = (): TestDatabase => {
    const d = createTestDatabase('tb_migrate');
    dbs.push(d);
    return d;
  };
  /** A copy of the seeded data directory, to spoil. */
  const copyOfDir = (name: string): string => {
    const d = join(root, name);
    cpSync(dir, d, { recursive: true });
    return d;
  };
  const tablesIn = (url: string): string[] => {
    const pg = pgConnect(url);
    try {
      return pg
        .query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
        .map((r) => String(r.table_name));
    } finally {
      pg.close();
    }
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tb-migrate-'));
    dir = join(root, 'hub');
    initHub(dir, silent, clock);
    const hub = openHub({ dataDir: dir, tokenLifetimeSec: 900, log: silent, clock });
    try {
      for (const s of ['S1', 'S2']) hub.stores.create(s, s);
      apiKey = hub.storage.tx(() => hub.credentials.createApiKey('S1'));
      for (let i = 0; i < 23; i++) seedSale(hub, i % 2 ? 'S1' : 'S2', `R-${i}`);
      hub.policies.set(undefined, { managerOverrideAbove: 50_000 }, 'admin:test');
      hub.policies.set('S1', { managerOverrideAbove: 10_000 }, 'admin:test');
      // sealed: a new API key waiting for the agent, a webhook's signing secret
      pendingSecret = hub.storage.tx(() => hub.credentials.rotate('S1', 3_600_000)).secret;
      hub.webhooks.add({ url: 'https://erp.example/hook', events: ['return.completed'] }, 'admin:test');
      hub.auditTrail.checkpoints.create('test');
    } finally {
      hub.close();
    }
  });
  afterEach(() => {
    for (const d of dbs.splice(0)) d.drop();
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it(
    'copies every table row for row, in batches; ' +
      "the copy verifies and serves with the data directory's hub.secret",
    async () => {
      const db = newDb();
      const r = await cli(['storage', 'migrate', '--data', dir, '--to', db.url, '--batch', '7', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as MigrateOutput;

      const src = new Database(hubDbPath(dir), { readonly: true });
      const pg = pgConnect(db.url);
      try {
        const shape = describeSqlite(src);
        // every table, with the rows it holds
        expect(out.tables.map((t) => t.table).sort()).toEqual([...shape.keys()].sort());
        for (const t of out.tables)
          expect(t.rows, t.table).toBe(
            (src.prepare(`SELECT COUNT(*) AS n FROM "${t.table}"`).get() as { n: number }).n,
          );
        expect(out.rows).toBe(out.tables.reduce((a, t) => a + t.rows, 0));
        expect(out.tables.find((t) => t.table === 'sales')!.rows).toBe(23);
        expect(out.tables.find((t) => t.table === 'audit')!.rows).toBeGreaterThan(23);
        expect(out.transaction).toBe('one');
        expect(out.needs).toContain(join(dir, 'hub.secret'));
        // parents before children (foreign keys hold all the way)
        const at = (t: string): number => out.tables.findIndex((x) => x.table === t);
        expect(at('stores')).toBeLessThan(at('api_keys'));
        expect(at('sales')).toBeLessThan(at('sale_lines'));
        // row for row, every value
        const a = snapshot(selectSqlite(src), shape);
        const b = snapshot(selectPostgres(pg.query.bind(pg)), shape);
        for (const t of shape.keys()) expect(b.get(t), t).toEqual(a.get(t));
        const maxAudit = (src.prepare('SELECT MAX(id) AS m FROM audit').get() as { m: number }).m;
        expect(out.sequences).toContainEqual({ table: 'audit', column: 'id', next: maxAudit + 1 });
        expect(pg.query('SELECT version FROM tillbridge_schema')).toEqual([
          { version: String(out.schemaVersion.postgres) },
        ]);
      } finally {
        src.close();
        pg.close();
      }

      // the audit chain of the copy verifies (checkpoints too: the signing key is in the data directory)
      const v = await cli(['audit', 'verify', '--data', dir, '--database', db.url]);
      expect(v.stdout + v.stderr, v.stdout + v.stderr).toMatch(/^audit log intact/);
      expect(v.code).toBe(0);
      expect(v.stdout).toMatch(/^audit log intact: \d+ entries/);

      // a hub on the copy: hub.secret matches, sealed columns open, new ids follow the copied ones
      const hub = openHub({ dataDir: dir, database: db.url, tokenLifetimeSec: 900, log: silent, clock });
      try {
        expect(hub.credentials.checkApiKey('S1', apiKey).store).toBe('S1');
        expect(hub.credentials.pendingKey('S1')?.secret).toBe(pendingSecret);
        const next = hub.storage.tx(() =>
          hub.audit.append({ actor: 'test', action: 'test.after-move', outcome: 'ok', details: {} }),
        );
        expect(next.id).toBe(out.sequences.find((s) => s.table === 'audit')!.next);
        expect(hub.policies.set(undefined, { managerOverrideAbove: 60_000 }, 'admin:test')).toBe(
          out.sequences.find((s) => s.table === 'policies')!.next,
        );
      } finally {
        hub.close();
      }
      const again = await cli(['audit', 'verify', '--data', dir, '--database', db.url]);
      expect(again.code).toBe(0);
    },
  );

  it('prints what it copied, and what every hub process needs', async () => {
    const db = newDb();
    const r = await cli(['storage', 'migrate', '--data', dir, '--to', db.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/in one transaction/);
    expect(r.stdout).toMatch(/^sale_lines\s+23$/m);
    expect(r.stdout).toContain(`Every hub process on this database needs ${join(dir, 'hub.secret')}`);
    expect(r.stdout).toContain(`tillbridge-hub serve --data ${dir} --database`);
  });

  it('refuses a database that already holds a hub, naming it, and one that holds any table', async () => {
    const db = newDb();
    openPostgresStorage(db.url, { create: true }).close();
    const r = await cli(['storage', 'migrate', '--data', dir, '--to', db.url]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`error: the database ${db.url} already holds a hub (schema version`);

    const other = newDb();
    const pg = pgConnect(other.url);
    pg.query('CREATE TABLE someone_elses (x int)');
    pg.close();
    const r2 = await cli(['storage', 'migrate', '--data', dir, '--to', other.url]);
    expect(r2.code).toBe(6);
    expect(r2.stderr).toContain('is not empty (tables someone_elses)');
    expect(tablesIn(other.url)).toEqual(['someone_elses']);
  });

  it('refuses while a hub is serving from the data directory, and copies nothing', async () => {
    const db = newDb();
    const running = await startHub({ dataDir: dir, host: '127.0.0.1', port: 0, log: silent, clock });
    try {
      const r = await cli(['storage', 'migrate', '--data', dir, '--to', db.url]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain(`a hub is using ${hubDbPath(dir)}`);
      expect(r.stderr).toContain('stop `tillbridge-hub serve');
    } finally {
      await running.stop();
    }
    expect(tablesIn(db.url)).toEqual([]);
  });

  it('refuses a data directory whose hub.secret is missing or is not the one the hub was made with', async () => {
    const db = newDb();
    const wrong = copyOfDir('wrong-secret');
    writeFileSync(join(wrong, 'hub.secret'), randomBytes(32).toString('base64'), { mode: 0o600 });
    const r = await cli(['storage', 'migrate', '--data', wrong, '--to', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(wrong, 'hub.secret')} is not the secret`);
    const missing = copyOfDir('no-secret');
    rmSync(join(missing, 'hub.secret'));
    const r2 = await cli(['storage', 'migrate', '--data', missing, '--to', db.url]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`${join(missing, 'hub.secret')} is missing`);
    expect(tablesIn(db.url)).toEqual([]);
  });

  it('a copy that fails half-way leaves the database empty: nothing a hub would start on', async () => {
    const bad = copyOfDir('bad-row');
    // a value PostgreSQL refuses, in a table copied after the sales
    const raw = new Database(hubDbPath(bad));
    raw
      .prepare(
        `INSERT INTO terminals (store, register, state, transport, connections, at, updated_at)
           VALUES ('S1', 'R9', 'connected', 'tcp', 'lots', 'x', 'x')`,
      )
      .run();
    raw.close();
    const db = newDb();
    const r = await cli(['storage', 'migrate', '--data', bad, '--to', db.url, '--batch', '5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/copying terminals \(rows \d+\.\.\d+\) into .*: .*bigint/);
    expect(tablesIn(db.url)).toEqual([]);
    expect(() => openPostgresStorage(db.url)).toThrow(/no hub in the database/);
  });

  it('refuses a source whose tables the PostgreSQL schema does not have (a migration in one list only)', () => {
    const odd = copyOfDir('odd-schema');
    const raw = new Database(hubDbPath(odd));
    raw.exec('CREATE TABLE extra (x TEXT)');
    raw.close();
    const db = newDb();
    const s = openSqliteStorage(odd);
    try {
      expect(() => copySqliteToPostgres(s, db.url)).toThrow(
        /differ, so nothing was copied: table extra only in SQLite/,
      );
    } finally {
      s.close();
    }
    expect(tablesIn(db.url)).toEqual([]);
  });
});
