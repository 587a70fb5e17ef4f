import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      // Cheap hashing keeps signup-heavy tests fast; production default is 10 rounds.
      OCTODB_BCRYPT_ROUNDS: '4',
      OCTODB_JWT_SECRET: 'test-signing-key-0123456789abcdef0123456789abcdef',
      OCTODB_DATA_KEY: 'test-data-key-0123456789abcdef0123456789abcdef',
    },
    // .ci/run reads the counts from the JSON report.
    reporters: ['default', ['json', { outputFile: '.vitest/results.json' }]],
  },
});
