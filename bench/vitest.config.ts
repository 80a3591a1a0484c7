/**
 * The benchmarks' own tests (helpers and a small run of each benchmark): `npm run bench:test`.
 * `npm test` runs them after the main suite (they start several processes, so they get their own timeouts).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
