/**
 * globalSetup of the integration projects: are MySQL, Redis and Skeema there? Without them the
 * integration tests skip, with one message saying why; `npm test` (OCTODB_TEST_REQUIRE_SERVERS=1,
 * its `pretest` starts them) fails instead, so a run that was meant to test everything never passes
 * by skipping.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { TestProject } from 'vitest/node';
import { loadMysqlTls } from '#adapters/mysql-tls';
import { loadConfig, parseMysqlUrl } from '#shared/config';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the integration tests cannot run here; null when MySQL, Redis and Skeema answer. */
    serversMissing: string | null;
  }
}

const PROBE_TIMEOUT_MS = 3000;

async function mysqlMissing(url: string): Promise<string | null> {
  const login = parseMysqlUrl(url);
  try {
    // As OctoDB connects: TLS, verified against the CA (a missing CA file is why it cannot run).
    const ssl = await loadMysqlTls(loadConfig());
    const connection = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password, ssl, connectTimeout: PROBE_TIMEOUT_MS });
    await connection.query('SELECT 1');
    await connection.end();
    return null;
  } catch (error) {
    return `MySQL at ${login.host}:${login.port} (${(error as Error).message})`;
  }
}

async function redisMissing(url: string): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: PROBE_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined; // connect() itself only says "Connection is closed."
  redis.on('error', (error: Error) => void (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return `Redis at ${url} (${(cause ?? (error as Error)).message})`;
  } finally {
    redis.disconnect();
  }
}

function skeemaMissing(): string | null {
  // Only the bash runner needs Skeema on this machine (docker: compose's dbhost has it).
  if ((process.env.OCTODB_HOST_RUNNER ?? 'bash') !== 'bash') return null;
  return spawnSync('skeema', ['version'], { stdio: 'ignore' }).status === 0 ? null : 'Skeema (no `skeema` on PATH)';
}

async function probe(): Promise<string | null> {
  const missing = [
    await mysqlMissing(process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta'),
    await redisMissing(process.env.OCTODB_REDIS_URL ?? 'redis://127.0.0.1:6379'),
    skeemaMissing(),
  ].filter((m): m is string => m !== null);
  return missing.length === 0 ? null : `not reachable: ${missing.join('; ')}`;
}

// Both integration projects share one probe and one message (the main process runs both setups).
const shared = globalThis as { octodbServersProbe?: Promise<string | null> };

async function probeOnce(): Promise<string | null> {
  if (shared.octodbServersProbe) return shared.octodbServersProbe;
  shared.octodbServersProbe = probe();
  const missing = await shared.octodbServersProbe;
  if (missing && process.env.OCTODB_TEST_REQUIRE_SERVERS === '1') {
    throw new Error(`integration tests need their servers, ${missing} (bin/setup.sh should have started them)`);
  }
  if (missing) console.warn(`\nIntegration tests skipped, ${missing}. Start them with \`npm run setup\`, or run \`npm test\`, which does.\n`);
  return missing;
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('serversMissing', await probeOnce());
}
