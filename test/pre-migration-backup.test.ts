import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  backupBeforeMigration,
  listPreMigrationBackups,
  PRE_MIGRATION_BACKUPS_KEPT,
  type Logger,
} from '@tillbridge/shared';
import { HUB_MIGRATIONS } from '../central/src/storage/schema.js';
import { PG_MIGRATIONS } from '../central/src/storage/postgres-schema.js';
import { hubDbPath, openSqliteStorage } from '../central/src/storage/index.js';
import { openPostgresStorage } from '../central/src/storage/postgres.js';
import { AGENT_MIGRATIONS, agentDbPath, openAgentDb } from '../agent/src/db/agent-db.js';
import { createTestDatabase, pgUnavailable } from '../scripts/lib/pg-test-db.js';
import { pgConnect } from '../central/test/schema-rows.js';
import { expectNewerRefused, hubPostgresDump, SCHEMA_FIXTURES } from './support/schema-fixtures.js';
import { tempDirForEachTest } from './support/temp-dir.js';
import { capturedLog } from './support/log.js';

/**
 * The copy taken before a SQLite database (hub or agent) is migrated, and the refusal of a
 * database newer than the binary (docs/upgrade.md).
 */

const FIXTURES = SCHEMA_FIXTURES;

const capture = (): ReturnType<typeof capturedLog> => capturedLog('info');

let dir: string;
tempDirForEachTest('tb-premig-', (made) => (dir = made));

/**
 * Copies the fixture `kind`/v`version`.sqlite to `dbFile` and opens it with `open` (its log
 * captured): the copy it took before migrating, that copy's schema version and integrity, what
 * `sql` reads from it, and the lines logged.
 */
function migrateFixture(
  fixture: { kind: 'hub-sqlite' | 'agent'; version: number; dbFile: string },
  open: (log: Logger) => { close(): void },
  sql: string,
) {
  copyFileSync(join(FIXTURES, fixture.kind, `v${fixture.version}.sqlite`), fixture.dbFile);
  const { log, lines } = capture();
  open(log).close();
  const bak = `${fixture.dbFile}.pre-v${fixture.version}.bak`;
  const b = new Database(bak, { readonly: true });
  try {
    const version = b.pragma('user_version', { simple: true });
    const integrity = b.pragma('integrity_check', { simple: true });
    return { bak, lines, version, integrity, rows: b.prepare(sql).pluck().all() };
  } finally {
    b.close();
  }
}

describe('the copy before migrating', () => {
  it.each([
    {
      name: 'hub.sqlite',
      fixture: { kind: 'hub-sqlite' as const, version: 12, dbFile: (): string => hubDbPath(dir) },
      open: (log: Logger) => openSqliteStorage(dir, { log }),
      newest: HUB_MIGRATIONS.length,
      sql: 'SELECT name FROM stores ORDER BY id',
      rows: ['Store One', 'Store Two'],
    },
    {
      name: 'agent.sqlite',
      fixture: { kind: 'agent' as const, version: 2, dbFile: (): string => agentDbPath(dir) },
      open: (log: Logger) => openAgentDb(dir, { log }),
      newest: AGENT_MIGRATIONS.length,
      sql: 'SELECT seq FROM outbox ORDER BY seq',
      rows: [1, 2],
    },
  ])('$name: a database with pending migrations is copied to <db>.pre-v<N>.bak first, 0600, and it is logged', (c) => {
    const { version } = c.fixture;
    const { bak, lines, ...copy } = migrateFixture({ ...c.fixture, dbFile: c.fixture.dbFile() }, c.open, c.sql);
    expect(copy).toEqual({ version, integrity: 'ok', rows: c.rows });
    expect(statSync(bak).mode & 0o777).toBe(0o600);
    expect(lines).toContainEqual(
      expect.objectContaining({
        backup: bak,
        from: version,
        to: c.newest,
        msg: expect.stringContaining(`before migrating it from schema version ${version}`),
      }),
    );
  });
});

describe('hub SQLite', () => {
  it('takes no copy of a new database, nor of one already at the newest version', () => {
    openSqliteStorage(dir, { create: true }).close();
    openSqliteStorage(dir).close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
  });

  it('refuses to migrate when the copy cannot be written, leaving the database as it was', () => {
    copyFileSync(join(FIXTURES, 'hub-sqlite', 'v14.sqlite'), hubDbPath(dir));
    // a non-empty directory where the copy would go: it can be neither removed nor written
    const blocker = `${hubDbPath(dir)}.pre-v14.bak`;
    mkdirSync(blocker);
    writeFileSync(join(blocker, 'x'), 'x');
    expect(() => openSqliteStorage(dir)).toThrow(
      expect.objectContaining({ code: 'TB_CONFIG', message: expect.stringContaining('could not copy') }),
    );
    const db = new Database(hubDbPath(dir), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(14);
    db.close();
  });
});

describe('the agent', () => {
  it('refuses a database newer than it knows, naming both versions and the way back, and leaves it as it was', () => {
    openAgentDb(dir).close();
    expectNewerRefused(
      agentDbPath(dir),
      AGENT_MIGRATIONS.length,
      () => openAgentDb(dir),
      new RegExp(
        `schema version ${AGENT_MIGRATIONS.length + 1}, ` +
          `newer than this tillbridge-agent \\(${AGENT_MIGRATIONS.length}\\).*pre-v<N>\\.bak`,
      ),
    );
    expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
  });
});

describe('backupBeforeMigration keeps the newest few copies', () => {
  it(`keeps ${PRE_MIGRATION_BACKUPS_KEPT}, removing the oldest versions' copies`, () => {
    const file = join(dir, 'x.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE t (a)');
    for (const v of [1, 2, 3, 4, 5]) backupBeforeMigration(db, file, v);
    db.close();
    expect(listPreMigrationBackups(file).map((b) => b.fromVersion)).toEqual([5, 4, 3]);
    expect(existsSync(`${file}.pre-v1.bak`)).toBe(false);
    expect(existsSync(`${file}.pre-v5.bak`)).toBe(true);
  });
});

const noPg = pgUnavailable();

describe.skipIf(noPg !== undefined)('PostgreSQL', () => {
  it('logs the pg_dump command to take before a migration (and runs none)', () => {
    const t = createTestDatabase('tb_premig');
    try {
      const { log, lines } = capture();
      // a hub database one version behind (its fixture's dump)
      const from = PG_MIGRATIONS.length - 1;
      const pg = pgConnect(t.url);
      pg.query(hubPostgresDump(from));
      pg.close();
      openPostgresStorage(t.url, { log }).close();
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 40,
          from,
          backup: expect.stringMatching(
            new RegExp(`^pg_dump --format=custom --file=tillbridge-hub-pre-v${from}\\.dump '`),
          ),
        }),
      );
    } finally {
      t.drop();
    }
  });
});
