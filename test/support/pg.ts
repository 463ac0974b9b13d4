import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, inject } from 'vitest';

/**
 * The tests' one way to reach PostgreSQL (README "PostgreSQL tests").
 *
 * - A suite that needs a database: `const pgUrl = await pgAdminUrl()`, then
 *   `describe.skipIf(!pgUrl)(…)` (or `await describePg(name, (adminUrl) => …)`), and a fresh database
 *   per suite or test from `createTestDatabase()`.
 * - A suite that restarts or kills PostgreSQL itself: `startThrowawayCluster()`, skipped where
 *   `pgClusterSkipReason()` says why.
 *
 * Where no server answers, the PostgreSQL suites are skipped; test/support/pg-global-setup.ts says
 * so once per run. Where TILLBRIDGE_TEST_PG_URL is set (as in CI) and nothing answers there, that
 * is an error, not a skip: the suites fail instead of passing without having run.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where this run's throwaway clusters are made (test/support/pg.ts startThrowawayCluster). */
    tillbridgePgClusterRoot: string;
  }
}

const execFileP = promisify(execFile);
export const CLUSTER_SCRIPT = fileURLToPath(new URL('../../scripts/pg-cluster.sh', import.meta.url));

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const PROBE_TIMEOUT_MS = 2_000;

/**
 * For a pg client's errors that are reported elsewhere or of no interest: a connection lost after
 * connecting (the next query fails with it), or ending a client whose connection is already gone.
 */
export const ignorePgError = (): void => {
  /* see above */
};

/** The line printed once when the PostgreSQL suites are skipped. */
export const PG_SKIP_MESSAGE =
  'PostgreSQL suites skipped: no server at TILLBRIDGE_TEST_PG_URL or 127.0.0.1:5432 (see README "PostgreSQL tests")';

/** Where a URL points, without any password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(a URL that does not parse)';
  }
}

/** Connects, runs SELECT 1 and disconnects; the error when that fails within the timeout. */
async function probe(url: string): Promise<Error | undefined> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  });
  client.on('error', ignorePgError); // a connection lost after connecting is reported by the query below
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  } finally {
    await client.end().catch(ignorePgError);
  }
}

interface Probed {
  url: string | undefined;
  reason: string | undefined;
}
let probed: Promise<Probed> | undefined;

function probeOnce(): Promise<Probed> {
  probed ??= (async (): Promise<Probed> => {
    const fromEnv = process.env.TILLBRIDGE_TEST_PG_URL;
    if (fromEnv) {
      const err = await probe(fromEnv);
      if (err)
        throw new Error(
          `TILLBRIDGE_TEST_PG_URL is set but PostgreSQL at ${describeUrl(fromEnv)} does not answer: ${err.message}`,
        );
      return { url: fromEnv, reason: undefined };
    }
    const err = await probe(DEFAULT_PG_URL);
    if (!err) return { url: DEFAULT_PG_URL, reason: undefined };
    // nothing listening is the usual case; anything else (a password asked, a timeout) is said too
    const refused = (err as { code?: string }).code === 'ECONNREFUSED';
    return {
      url: undefined,
      reason: refused ? PG_SKIP_MESSAGE : `${PG_SKIP_MESSAGE} — 127.0.0.1:5432: ${err.message}`,
    };
  })();
  return probed;
}

/**
 * The URL of a PostgreSQL server the tests may create and drop databases on, as a superuser:
 * TILLBRIDGE_TEST_PG_URL if set, else postgres://postgres@127.0.0.1:5432/postgres if it answers within
 * about 2 s, else undefined. Rejects when TILLBRIDGE_TEST_PG_URL is set and does not answer.
 * Probed once per test process.
 */
export async function pgAdminUrl(): Promise<string | undefined> {
  return (await probeOnce()).url;
}

/** Why the PostgreSQL suites are skipped (the message and the probe's error), or undefined when a server answers. */
export async function pgSkipReason(): Promise<string | undefined> {
  return (await probeOnce()).reason;
}

/**
 * `describe` for a suite that needs PostgreSQL: its body gets the admin URL; skipped (and named
 * so) where no server answers. Use with top-level await: `await describePg('…', (adminUrl) => { … })`.
 */
export async function describePg(name: string, body: (adminUrl: string) => void): Promise<void> {
  const url = await pgAdminUrl();
  if (url) describe(name, () => body(url));
  else
    describe.skip(`${name} (skipped: no PostgreSQL)`, () => {
      /* nothing runs */
    });
}

export interface TestDatabase {
  /** postgres://…/tb_test_<random>, on the admin URL's server, as its user. */
  url: string;
  name: string;
  /** Ends every connection to the database and drops it; again is a no-op. */
  drop(): Promise<void>;
}

/** `f` with a client connected to `url`, ended afterwards. */
export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on('error', ignorePgError);
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end().catch(ignorePgError);
  }
}

/** The same server and credentials as `url`, database `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/**
 * A new, empty database with a unique name (tb_test_<random>) on the server of pgAdminUrl(), or of
 * `adminUrl` (a throwaway cluster's). UTF8, C collation, so that ordering is the same on every machine.
 */
export async function createTestDatabase(adminUrl?: string): Promise<TestDatabase> {
  const admin = adminUrl ?? (await pgAdminUrl());
  if (!admin) throw new Error(`createTestDatabase: no PostgreSQL. ${PG_SKIP_MESSAGE}`);
  const name = `tb_test_${randomBytes(8).toString('hex')}`;
  await withClient(admin, (c) =>
    c.query(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`),
  );
  let dropped = false;
  return {
    url: withDatabase(admin, name),
    name,
    async drop() {
      if (dropped) return;
      await withClient(admin, async (c) => {
        await c.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        const version = Number((await c.query<{ v: string }>('SHOW server_version_num')).rows[0]?.v);
        // WITH (FORCE) (PostgreSQL 13+) also ends connections opened since the line above
        await c.query(`DROP DATABASE IF EXISTS "${name}"${version >= 130000 ? ' WITH (FORCE)' : ''}`);
      });
      dropped = true;
    },
  };
}

/**
 * Why throwaway clusters cannot be started here (no PostgreSQL server binaries), or undefined when
 * they can. Asks scripts/pg-cluster.sh, which looks where `start` would.
 */
export function pgClusterSkipReason(): string | undefined {
  const r = spawnSync('bash', [CLUSTER_SCRIPT, 'bindir'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const why = (r.stderr || (r.error ? r.error.message : '') || `exit ${r.status}`).trim().replace(/^pg-cluster: /, '');
  return `PostgreSQL throwaway-cluster suites skipped: ${why} (see README "PostgreSQL tests")`;
}

export interface ThrowawayCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres, superuser, trust authentication. */
  url: string;
  port: number;
  /** The cluster's temporary directory (data/, server.log, the unix socket). */
  dir: string;
  /**
   * Stops the server (fast) if it runs and starts it again on the same port and data; resolves once it accepts
   * connections.
   */
  restart(): Promise<void>;
  /**
   * SIGKILL to the postmaster and every backend at once, as in a crash; resolves once they are gone. restart() brings
   * it back.
   */
  kill(): Promise<void>;
  /** Stops the server and removes its directory; again is a no-op. */
  stop(): Promise<void>;
}

async function script(...args: string[]): Promise<string> {
  // this run's directory for clusters (test/support/pg-global-setup.ts), which stops any left running
  const root = inject('tillbridgePgClusterRoot');
  const env = root ? { ...process.env, TILLBRIDGE_PG_TMPDIR: root } : process.env;
  try {
    return (await execFileP('bash', [CLUSTER_SCRIPT, ...args], { encoding: 'utf8', timeout: 120_000, env })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/pg-cluster.sh ${args.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/**
 * A PostgreSQL cluster of its own (scripts/pg-cluster.sh): for tests that restart or kill the
 * server. Takes about a second to start; one a test leaves running is stopped after the run.
 * Throws, saying why, where there are no server binaries
 * (check pgClusterSkipReason() first to skip instead).
 */
export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const skip = pgClusterSkipReason();
  if (skip) throw new Error(skip);
  const out = await script('start');
  const env: Record<string, string | undefined> = Object.fromEntries(
    [...out.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]),
  );
  const url = env.TILLBRIDGE_TEST_PG_URL;
  const dir = env.TILLBRIDGE_PG_CLUSTER_DIR;
  if (!url || !dir) throw new Error(`scripts/pg-cluster.sh start printed no URL and directory: ${JSON.stringify(out)}`);
  let stopped = false;
  const live = (what: string) => {
    if (stopped) throw new Error(`throwaway cluster ${what}: it was stopped`);
  };
  return {
    url,
    port: Number(new URL(url).port),
    dir,
    async restart() {
      live('restart');
      await script('restart', dir);
    },
    async kill() {
      live('kill');
      await script('kill', dir);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await script('stop', dir);
    },
  };
}
