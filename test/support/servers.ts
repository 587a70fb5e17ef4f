import { inject } from 'vitest';

/**
 * True when MySQL, Redis and Skeema answered the integration projects' globalSetup
 * (test/support/servers-setup.ts). Every integration file's describe blocks are
 * `describe.skipIf(!serversUp)`: without the servers they skip instead of failing one by one.
 */
const missing = inject('serversMissing');
if (missing === undefined) throw new Error('an integration test runs through an integration project of vitest.config.ts (its globalSetup probes the servers)');
export const serversUp = missing === null;
