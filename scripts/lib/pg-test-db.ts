import { randomBytes } from 'node:crypto';
import { openPgClient, type PgClient } from '@tillbridge/central';

/**
 * Throwaway PostgreSQL databases for the tests, made and dropped synchronously (the hub's own
 * driver, through openPgClient), so that a test hub on PostgreSQL is set up exactly like one on SQLite.
 *
 * TILLBRIDGE_TEST_BACKEND=postgres runs the hub suites on PostgreSQL; TILLBRIDGE_TEST_PG_URL names a
 * server where the tests may create databases (default: postgres://postgres@127.0.0.1:5432/postgres;
 * `.ci/run` starts a throwaway cluster and sets it).
 */
export const TEST_BACKEND_ENV = 'TILLBRIDGE_TEST_BACKEND';
export const TEST_PG_URL_ENV = 'TILLBRIDGE_TEST_PG_URL';
/**
 * How many hub processes an end-to-end test's World runs on its one PostgreSQL database (default 1;
 * the PostgreSQL pass of `npm test` sets 2). On SQLite a hub is one process: it is ignored.
 */
export const TEST_HUB_PROCESSES_ENV = 'TILLBRIDGE_TEST_HUB_PROCESSES';
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function testBackend(): 'sqlite' | 'postgres' {
  const v = process.env[TEST_BACKEND_ENV];
  if (v === undefined || v === '' || v === 'sqlite') return 'sqlite';
  if (v === 'postgres') return 'postgres';
  throw new Error(`${TEST_BACKEND_ENV}: expected sqlite or postgres, got "${v}"`);
}

export function pgAdminUrl(): string {
  const url = process.env[TEST_PG_URL_ENV];
  return url === undefined || url === '' ? DEFAULT_ADMIN_URL : url;
}

function withAdmin<T>(fn: (c: PgClient) => T): T {
  const c = openPgClient(pgAdminUrl());
  try {
    return fn(c);
  } finally {
    c.close();
  }
}

/** Why PostgreSQL tests cannot run here, or undefined when a server answers. */
export function pgUnavailable(): string | undefined {
  try {
    withAdmin((c) => c.query('SELECT 1'));
    return undefined;
  } catch (err) {
    return `no PostgreSQL at ${pgAdminUrl().replace(/:[^:@/]*@/, ':***@')} (${
      (err instanceof Error ? err.message : String(err)).trim().split('\n')[0]
    }); set ${TEST_PG_URL_ENV} or see README "PostgreSQL tests"`;
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): void;
}

/** A new empty database, dropped (its connections cut) by `drop`. */
export function createTestDatabase(prefix = 'tb_test'): TestDatabase {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  withAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`));
  const u = new URL(pgAdminUrl());
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    name,
    drop: () => {
      if (dropped) return;
      dropped = true;
      withAdmin((c) => {
        c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [name],
        );
        c.query(`DROP DATABASE IF EXISTS ${name}`);
      });
    },
  };
}
