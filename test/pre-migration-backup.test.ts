import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backupBeforeMigration, listPreMigrationBackups, PRE_MIGRATION_BACKUPS_KEPT } from '@tillbridge/shared';
import { HUB_MIGRATIONS } from '../central/src/storage/schema.js';
import { PG_MIGRATIONS } from '../central/src/storage/postgres-schema.js';
import { hubDbPath, openSqliteStorage } from '../central/src/storage/index.js';
import { openPostgresStorage } from '../central/src/storage/postgres.js';
import { AGENT_MIGRATIONS, agentDbPath, openAgentDb } from '../agent/src/db/agent-db.js';
import { createTestDatabase, pgUnavailable } from '../scripts/lib/pg-test-db.js';
import { pgConnect } from '../central/test/schema-rows.js';
import { hubPostgresDump, SCHEMA_FIXTURES } from './support/schema-fixtures.js';
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

describe('hub SQLite', () => {
  it('copies a database with pending migrations to hub.sqlite.pre-v<N>.bak first, 0600, and logs it', () => {
    copyFileSync(join(FIXTURES, 'hub-sqlite', 'v12.sqlite'), hubDbPath(dir));
    const { log, lines } = capture();
    openSqliteStorage(dir, { log }).close();
    const bak = `${hubDbPath(dir)}.pre-v12.bak`;
    const b = new Database(bak, { readonly: true });
    try {
      expect(b.pragma('user_version', { simple: true })).toBe(12);
      expect(b.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(b.prepare(`SELECT name FROM stores ORDER BY id`).pluck().all()).toEqual(['Store One', 'Store Two']);
    } finally {
      b.close();
    }
    expect(statSync(bak).mode & 0o777).toBe(0o600);
    expect(lines).toContainEqual(
      expect.objectContaining({
        backup: bak,
        from: 12,
        to: HUB_MIGRATIONS.length,
        msg: expect.stringContaining(`before migrating it from schema version 12`),
      }),
    );
  });

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
  it('copies agent.sqlite to agent.sqlite.pre-v<N>.bak before migrating, and logs it', () => {
    copyFileSync(join(FIXTURES, 'agent', 'v2.sqlite'), agentDbPath(dir));
    const { log, lines } = capture();
    openAgentDb(dir, { log }).close();
    const bak = `${agentDbPath(dir)}.pre-v2.bak`;
    const b = new Database(bak, { readonly: true });
    expect(b.pragma('user_version', { simple: true })).toBe(2);
    expect(b.prepare('SELECT COUNT(*) FROM outbox').pluck().get()).toBe(2);
    b.close();
    expect(lines).toContainEqual(expect.objectContaining({ backup: bak, from: 2, to: AGENT_MIGRATIONS.length }));
  });

  it('refuses a database newer than it knows, naming both versions and the way back, and leaves it as it was', () => {
    openAgentDb(dir).close();
    const raw = new Database(agentDbPath(dir));
    raw.pragma(`user_version = ${AGENT_MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => openAgentDb(dir)).toThrow(
      expect.objectContaining({
        code: 'TB_CONFIG',
        message: expect.stringMatching(
          new RegExp(
            `schema version ${AGENT_MIGRATIONS.length + 1}, newer than this tillbridge-agent \\(${AGENT_MIGRATIONS.length}\\).*pre-v<N>\\.bak`,
          ),
        ),
      }),
    );
    const again = new Database(agentDbPath(dir));
    expect(again.pragma('user_version', { simple: true })).toBe(AGENT_MIGRATIONS.length + 1);
    again.close();
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
