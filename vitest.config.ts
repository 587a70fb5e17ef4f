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
      // Every test file signs up and logs in many tenants from 127.0.0.1 within seconds, and the
      // migration tests submit dozens of statements per tenant; the rate-limit tests set real
      // limits on their own OctoDB.
      OCTODB_RATE_MIGRATE: '1000/s burst 1000',
      OCTODB_RATE_SIGNUP_PER_IP: '1000/s burst 1000',
      OCTODB_RATE_SIGNUP_PER_EMAIL: '1000/s burst 1000',
      OCTODB_RATE_TOKEN_PER_IP: '1000/s burst 1000',
      OCTODB_RATE_TOKEN_PER_EMAIL: '1000/s burst 1000',
    },
    // .ci/run reads the counts from the JSON report.
    reporters: ['default', ['json', { outputFile: '.vitest/results.json' }]],
  },
});
