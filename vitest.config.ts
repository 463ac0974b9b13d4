import { availableParallelism } from 'node:os';
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
    // Limits for a test or hook that hangs, generous so that a busy machine does not fail a slow but healthy test.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A fresh worker process per test file (vitest's default), twice as many as cores, at most four: most of a file's
    // time is spent waiting on the hubs, agents, sockets and disk it drives, so two workers left the cores half idle.
    // On this project's CI machine (2 cores) the SQLite pass went from about 14 to about 10 minutes
    // (docs/development.md#test-run-time). `npx vitest run --maxWorkers=N` runs it otherwise.
    maxWorkers: Math.min(4, 2 * availableParallelism()),
    // The workspaces' builds (`npm test` builds first) load as Node loads them in production, not through vite's
    // module runner: about a quarter less import time over the suite. Tests of a workspace's sources import `../src`.
    server: { deps: { external: [/\/(shared|agent|central)\/dist\//] } },
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
