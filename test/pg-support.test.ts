import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  ignorePgError,
  pgAdminUrl,
  pgClusterSkipReason,
  startThrowawayCluster,
  type ThrowawayCluster,
  withClient,
} from './support/pg.js';

/**
 * test/support/pg.ts against a real PostgreSQL: the server the suites share (TILLBRIDGE_TEST_PG_URL
 * or 127.0.0.1:5432), and a throwaway cluster of this test's own that it restarts and kills.
 * Skipped, and said so once per run, where there is none.
 */

const adminUrl = await pgAdminUrl();
const noCluster = pgClusterSkipReason();

const query = <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> =>
  withClient(url, async (c) => (await c.query<T>(sql, params)).rows);

async function databaseExists(url: string, name: string): Promise<boolean> {
  return (await query(url, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

describe.skipIf(!adminUrl)('test databases (createTestDatabase)', () => {
  const admin = adminUrl!;

  it(
    'creates an empty UTF8 database with a unique tb_test_ name, ' +
      'reachable at its URL, and drop() removes it even while connected',
    async () => {
      const a = await createTestDatabase();
      const b = await createTestDatabase();
      try {
        expect(a.name).toMatch(/^tb_test_[0-9a-f]{16}$/);
        expect(b.name).not.toBe(a.name);
        expect(new URL(a.url).pathname).toBe(`/${a.name}`);
        expect(await databaseExists(admin, a.name)).toBe(true);

        const [row] = await query<{ db: string; enc: string; tables: string }>(
          a.url,
          'SELECT current_database() AS db, pg_encoding_to_char(encoding) AS enc, (SELECT count(*) FROM pg_tables ' +
            "WHERE schemaname = 'public')::text AS tables FROM pg_database WHERE datname = current_database()",
        );
        expect(row).toEqual({ db: a.name, enc: 'UTF8', tables: '0' });

        // a connection left open does not keep the database alive
        const held = new pg.Client({ connectionString: a.url });
        held.on('error', ignorePgError);
        await held.connect();
        await held.query('CREATE TABLE t (x int)');
        await a.drop();
        expect(await databaseExists(admin, a.name)).toBe(false);
        await expect(held.query('SELECT 1')).rejects.toThrow();
        await held.end().catch(ignorePgError);
        await expect(query(a.url, 'SELECT 1')).rejects.toThrow(/does not exist/);
        await a.drop(); // again: nothing to do

        expect(await databaseExists(admin, b.name)).toBe(true);
      } finally {
        await a.drop();
        await b.drop();
      }
      expect(await databaseExists(admin, b.name)).toBe(false);
    },
  );
});

describe.skipIf(!!noCluster)(
  `a throwaway cluster (startThrowawayCluster)${noCluster ? ' (skipped: no PostgreSQL server binaries)' : ''}`,
  () => {
    let cluster: ThrowawayCluster | undefined;
    afterAll(async () => cluster?.stop());

    it(
      'starts on 127.0.0.1 at its port, keeps its data across ' + 'a restart and a SIGKILL, and is gone once stopped',
      async () => {
        cluster = await startThrowawayCluster();
        const c = cluster;
        expect(c.url).toBe(`postgres://postgres@127.0.0.1:${c.port}/postgres`);
        expect(c.port).not.toBe(5432);
        const [settings] = await query<{ max: string; listen: string }>(
          c.url,
          "SELECT current_setting('max_connections') AS max, current_setting('listen_addresses') AS listen",
        );
        expect(settings).toEqual({ max: '300', listen: '127.0.0.1' });
        await query(c.url, 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)');

        const pidBefore = (await query<{ pid: number }>(c.url, 'SELECT pg_backend_pid() AS pid'))[0]!.pid;
        await c.restart();
        expect(await query(c.url, 'SELECT x FROM kept')).toEqual([{ x: 1 }]);

        // a crash: committed rows survive it, nothing answers until restart()
        await query(c.url, 'INSERT INTO kept VALUES (2)');
        await c.kill();
        await expect(query(c.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
        await c.restart();
        expect(await query(c.url, 'SELECT x FROM kept ORDER BY x')).toEqual([{ x: 1 }, { x: 2 }]);
        expect((await query<{ pid: number }>(c.url, 'SELECT pg_backend_pid() AS pid'))[0]!.pid).not.toBe(pidBefore);

        // test databases work on it too
        const db = await createTestDatabase(c.url);
        expect(await query(db.url, 'SELECT current_database() AS d')).toEqual([{ d: db.name }]);
        await db.drop();

        await c.stop();
        await expect(query(c.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
        const { existsSync } = await import('node:fs');
        expect(existsSync(c.dir)).toBe(false);
        await c.stop(); // again: nothing to do
        await expect(c.restart()).rejects.toThrow(/stopped/);
      },
    );
  },
);
