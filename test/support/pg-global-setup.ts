import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CLUSTER_SCRIPT, pgClusterSkipReason, pgSkipReason } from './pg.js';

/**
 * Runs once per `vitest run`, before the test files:
 * - says once, in one plain line each, when the PostgreSQL suites will be skipped and why (each test
 *   file probes for itself; this only speaks). A TILLBRIDGE_TEST_PG_URL that does not answer is not
 *   a skip: the suites that need it fail;
 * - gives the run one directory for its throwaway clusters, and after the run stops any cluster a
 *   test left running (a failed test, a worker that died) and removes the directory.
 */
export default async function pgGlobalSetup(project: TestProject): Promise<() => void> {
  const reason = await pgSkipReason().catch(() => undefined);
  if (reason) console.log(reason);
  const clusterReason = pgClusterSkipReason();
  if (clusterReason) console.log(clusterReason);

  // as root the clusters belong to an unprivileged user, who must reach them: /tmp, not root's TMPDIR
  const root = mkdtempSync(join(process.getuid?.() === 0 ? '/tmp' : tmpdir(), 'tillbridge-pg-run.'));
  chmodSync(root, 0o755);
  project.provide('tillbridgePgClusterRoot', root);

  return () => {
    if (!existsSync(root)) return;
    for (const name of readdirSync(root)) {
      console.log(`a test left the throwaway PostgreSQL cluster ${name} running: stopping it`);
      spawnSync('bash', [CLUSTER_SCRIPT, 'stop', join(root, name)], { stdio: 'ignore' });
    }
    rmSync(root, { recursive: true, force: true });
  };
}
