import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // The suites share one PostgreSQL and spawn worker processes; run them one at a time.
    fileParallelism: false,
  },
});
