import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['shared/test/**/*.test.ts', 'agent/test/**/*.test.ts', 'central/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // says once when the PostgreSQL suites are skipped, and why (test/support/pg.ts)
    globalSetup: ['test/support/pg-global-setup.ts'],
    reporters: ['default'],
  },
});
