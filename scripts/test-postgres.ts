/**
 * `npm test`'s second pass: the hub's storage contract suite (central/test) and the end-to-end
 * suites that matter most (spine, returns policy, security, webhooks, crash) again, each test's hub
 * on a PostgreSQL database of its own (TILLBRIDGE_TEST_BACKEND=postgres) and run by two `serve`
 * processes on that database (TILLBRIDGE_TEST_HUB_PROCESSES=2, test/e2e/fixture.ts: agents spread
 * over them, admin calls taking turns). Without a PostgreSQL server it says so and skips — unless
 * TILLBRIDGE_TEST_PG_URL names one, which must then answer (CI).
 */
import { spawnSync } from 'node:child_process';
import { pgUnavailable, TEST_BACKEND_ENV, TEST_HUB_PROCESSES_ENV, TEST_PG_URL_ENV } from './lib/pg-test-db.js';

/** Hub processes per end-to-end test (test/e2e/fixture.ts). */
const HUB_PROCESSES = 2;

export const POSTGRES_SUITES = [
  'central/test',
  'test/e2e/spine.e2e.test.ts',
  'test/e2e/policy.e2e.test.ts',
  'test/e2e/security.e2e.test.ts',
  'test/e2e/webhooks.e2e.test.ts',
  'test/e2e/crash.e2e.test.ts',
  'test/e2e/erp-feed.e2e.test.ts',
  'test/e2e/day-close.e2e.test.ts',
  'test/e2e/amqp-relay.e2e.test.ts',
  'test/e2e/backup.e2e.test.ts',
  'test/e2e/enroll.e2e.test.ts',
  'test/e2e/doctor.e2e.test.ts',
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
console.log(
  `== the same suites on PostgreSQL, ${HUB_PROCESSES} hub processes per end-to-end test: ${POSTGRES_SUITES.join(', ')}`,
);
const r = spawnSync('npx', ['vitest', 'run', ...POSTGRES_SUITES, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, [TEST_BACKEND_ENV]: 'postgres', [TEST_HUB_PROCESSES_ENV]: String(HUB_PROCESSES) },
});
process.exit(r.status ?? 1);
