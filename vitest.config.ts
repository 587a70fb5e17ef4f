import { defineConfig } from 'vitest/config';

/** End-to-end files that also run with the Lambda settings (the `lambda` project). */
const ON_LAMBDA_SETTINGS = [
  'test/integration/walkthrough.test.ts', // signup → ready → token → query → migrate → logs
  'test/integration/tokens.test.ts', // issuing, revocation, the authorizer without the pub/sub cache
  'test/integration/query-logs.test.ts', // each query's record sent before it answers, no buffer
  'test/integration/storage-quotas.test.ts', // the measurement awaited before the answer
];
const servers = './test/support/servers-setup.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      // Cheap hashing keeps signup-heavy tests fast; production default is 10 rounds.
      OCTODB_BCRYPT_ROUNDS: '4',
      OCTODB_JWT_SECRET: 'test-signing-key-0123456789abcdef0123456789abcdef',
      OCTODB_DATA_KEY: 'test-data-key-0123456789abcdef0123456789abcdef',
      OCTODB_API_KEY_SECRET: 'test-api-key-secret-0123456789abcdef0123456789',
      // Every test file signs up and logs in many tenants from 127.0.0.1 within seconds, and the
      // migration and dashboard tests send dozens of requests per tenant at once; the rate-limit tests set real
      // limits on their own OctoDB.
      OCTODB_RATE_MIGRATE: '1000/s burst 1000',
      OCTODB_RATE_SIGNUP_PER_IP: '1000/s burst 1000',
      OCTODB_RATE_SIGNUP_PER_EMAIL: '1000/s burst 1000',
      OCTODB_RATE_TOKEN_PER_IP: '1000/s burst 1000',
      OCTODB_RATE_TOKEN_PER_EMAIL: '1000/s burst 1000',
      OCTODB_RATE_DASHBOARD: '1000/s burst 1000',
    },
    // `npm test` runs every project; `npm run test:unit` and the others one or two (package.json).
    projects: [
      // Pure code and local stand-ins: no MySQL, Redis or Skeema needed.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // CDK template assertions and bundling: no servers either.
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'] } },
      // Real MariaDB/MySQL, Redis, Skeema and HTTP; skipped, with one message, when they are not there.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: servers } },
      // The same code paths as on AWS: what OCTODB_RUNTIME=lambda switches (no query-log buffer, the
      // storage measurement awaited, emails without Mailgun to the log) and no token cache (a frozen
      // Lambda could miss a pub/sub announcement), as lib/octo-function.ts deploys every function.
      {
        extends: true,
        test: {
          name: 'lambda',
          include: ON_LAMBDA_SETTINGS,
          globalSetup: servers,
          env: { OCTODB_RUNTIME: 'lambda', OCTODB_TOKEN_CACHE: 'off' },
        },
      },
    ],
    // .ci/run reads the counts from the JSON report.
    reporters: ['default', ['json', { outputFile: '.vitest/results.json' }]],
  },
});
