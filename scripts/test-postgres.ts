/**
 * `npm test`'s second pass: the hub's storage contract suite (central/test) and the end-to-end
 * suites that matter most (spine, returns policy, security, webhooks, crash) again, each hub on a
 * PostgreSQL database of its own (TILLBRIDGE_TEST_BACKEND=postgres). Without a PostgreSQL server
 * it says so and skips — unless TILLBRIDGE_TEST_PG_URL names one, which must then answer (CI).
 */
import { spawnSync } from 'node:child_process';
import { pgUnavailable, TEST_BACKEND_ENV, TEST_PG_URL_ENV } from './lib/pg-test-db.js';

export const POSTGRES_SUITES = [
  'central/test',
  'test/e2e/spine.e2e.test.ts',
  'test/e2e/policy.e2e.test.ts',
  'test/e2e/security.e2e.test.ts',
  'test/e2e/webhooks.e2e.test.ts',
  'test/e2e/crash.e2e.test.ts',
];

const why = pgUnavailable();
if (why) {
  if (process.env[TEST_PG_URL_ENV]) {
    console.error(`PostgreSQL suites cannot run: ${why}`);
    process.exit(1);
  }
  console.log(`PostgreSQL suites skipped (${POSTGRES_SUITES.join(', ')}): ${why}`);
  process.exit(0);
}
console.log(`== the same suites on PostgreSQL: ${POSTGRES_SUITES.join(', ')}`);
const r = spawnSync('npx', ['vitest', 'run', ...POSTGRES_SUITES, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, [TEST_BACKEND_ENV]: 'postgres' },
});
process.exit(r.status ?? 1);
