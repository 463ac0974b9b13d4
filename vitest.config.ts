import { defineConfig } from 'vitest/config';

// TILLBRIDGE_COVERAGE=1 measures coverage (v8) of the workspaces' sources into coverage/: a text summary on the
// console and coverage/coverage-summary.json, which `npm run coverage:floor` compares to coverage-floor.json.
// Off by default so that a plain `npm test` is not slowed (docs/development.md#coverage).
// The PostgreSQL re-run of npm test (scripts/test-postgres.ts) reports to coverage/postgres/, leaving the floor's
// summary of the main run in place.
const coverage = process.env.TILLBRIDGE_COVERAGE === '1';
const reportsDirectory = process.env.TILLBRIDGE_TEST_BACKEND === 'postgres' ? 'coverage/postgres' : 'coverage';

export default defineConfig({
  test: {
    include: ['shared/test/**/*.test.ts', 'agent/test/**/*.test.ts', 'central/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // says once when the PostgreSQL suites are skipped, and why (test/support/pg.ts)
    globalSetup: ['test/support/pg-global-setup.ts'],
    reporters: ['default'],
    coverage: {
      enabled: coverage,
      provider: 'v8',
      include: ['shared/src/**/*.ts', 'agent/src/**/*.ts', 'central/src/**/*.ts', 'scripts/**/*.ts'],
      exclude: ['**/dist/**', '**/*.d.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory,
    },
  },
});
