/**
 * `npm start`: OctoDB on this machine. The same handlers as on AWS, behind a local stand-in for
 * API Gateway; async invokes dispatched in-process; host scripts run by bash (or compose's dbhost).
 * This is the one module that knows both the handlers and the adapters.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deployMetaDb } from '#core/metadb';
import { FileTemplateSource } from '#adapters/file-template-source';
import { createLogTableIfMissing } from '#adapters/dynamo-log-store';
import { type LocalDynalite, startDynalite } from '#adapters/local-dynalite';
import { createGateway, routesOf } from '#adapters/local-gateway';
import { LocalInvoker } from '#adapters/local-invoker';
import { LocalLogQueue } from '#adapters/local-log-queue';
import { siteRoutes } from '#adapters/static-site';
import { WorkerConsumer } from '#adapters/worker-consumer';
import { Parts, useParts } from '#adapters/parts';
import { loadMysqlTls } from '#adapters/mysql-tls';
import { localMysqlLogins } from '#adapters/wiring';
import { metaDbRoot } from '#adapters/roots';
import { loadConfig } from '#shared/config';
import { httpEdgeOf, useHttpEdge } from '#shared/http';
import { LOG_PIPELINE } from '#shared/log-pipeline';
import { ALARM, logger } from '#shared/logger';
import { openApiRoute } from '#shared/openapi';
import { handler as authorizer } from '../lambdas/authorizer/handler.ts';
import { handler as dashboard } from '../lambdas/dashboard/handler.ts';
import { handler as migrateRun } from '../lambdas/migrate-run/handler.ts';
import { handler as migrateSubmit } from '../lambdas/migrate-submit/handler.ts';
import { handler as provision } from '../lambdas/provision/handler.ts';
import { handler as query } from '../lambdas/query/handler.ts';
import { handler as signup } from '../lambdas/signup/handler.ts';
import { handler as token } from '../lambdas/token/handler.ts';
import { handler as verify } from '../lambdas/verify/handler.ts';
import { apiDocument } from './openapi.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The API's routes (#shared/http-api), each function id served by its handler module, and the
 * API's OpenAPI document at GET /openapi.json (locally only: see docs/api.md).
 */
const apiRoutes = [...routesOf({ signup, token, verify, dashboard, query, 'migrate-submit': migrateSubmit }), openApiRoute(apiDocument())];

export interface LocalOctoDb {
  url: string;
  /** The parts every function's root draws from in this process (one MetaDB pool, one Redis). */
  parts: Parts;
  invoker: LocalInvoker;
  /** The in-process log queue feeding L1 (log-ingest). */
  logQueue: LocalLogQueue;
  /** The embedded DynamoDB, unless OCTODB_DYNAMODB_ENDPOINT names another. */
  dynalite: LocalDynalite | undefined;
  close(): Promise<void>;
}

/** Starts OctoDB locally; `env` overrides the process environment (tests use their own MetaDB). */
export async function startOctoDb(env: Record<string, string | undefined> = {}): Promise<LocalOctoDb> {
  // One long-running process: the current-token cache with pub/sub invalidation is safe here.
  const config = loadConfig({
    OCTODB_TOKEN_CACHE: 'pubsub',
    OCTODB_HOST_RUNNER: defaultHostRunner(),
    ...localSecrets(),
    ...process.env,
    ...env,
  });
  const invoker = new LocalInvoker({ provision: (payload) => provision(payload), 'migrate-run': (payload) => migrateRun(payload) }, [200, 400], (fn, error) =>
    logger.error('async invoke failed after retries', { fn, error: error as Error }),
  );
  // Logs: in-process queue → L1 → dynalite (embedded, data under OCTODB_DYNALITE_DIR).
  const dynalite = config.OCTODB_DYNAMODB_ENDPOINT ? undefined : await startDynalite(resolve(ROOT, config.OCTODB_DYNALITE_DIR));
  const depsConfig = { ...config, OCTODB_DYNAMODB_ENDPOINT: config.OCTODB_DYNAMODB_ENDPOINT ?? dynalite?.endpoint };
  // L1 on a worker thread, as on AWS it is a Lambda of its own; batches, time limit and receives
  // as the CDK stack's (LOG_PIPELINE), with a growing wait between receives; past the last, and
  // at shutdown, messages go to the dead-letter file, sent again at the next start.
  const logConsumer = new WorkerConsumer(new URL('./local-log-worker.mjs', import.meta.url), depsConfig);
  const logQueue = new LocalLogQueue((event) => logConsumer.consume(event), {
    batchSize: LOG_PIPELINE.batchSize,
    visibilityTimeoutMs: LOG_PIPELINE.ingestTimeoutSeconds * 1000,
    visibilityBackoff: LOG_PIPELINE.localVisibilityBackoff,
    maxReceiveCount: LOG_PIPELINE.maxReceiveCount,
    deadLetterFile: resolve(ROOT, config.OCTODB_LOG_DEAD_LETTER_FILE),
  });
  // A local process holds both logins from their URLs, also when it stands in for Lambda's runtime (the tests' lambda project).
  const mysqlTls = await loadMysqlTls(depsConfig);
  const logins = await localMysqlLogins(depsConfig, mysqlTls);
  const parts = new Parts(depsConfig, { invoker, mysqlTls, logins, ...(config.OCTODB_LOG_QUEUE_URL ? {} : { logs: logQueue }) });
  useParts(parts);
  (await parts.get('statementJudge')).warm(); // a long-running process: the first statement pays no worker start-up
  await parts.get('notifier'); // a Mailgun key without its domain fails the start, not the first email
  const edge = httpEdgeOf(config);
  useHttpEdge(edge); // the handlers answer with the same CORS origins and body cap as this gateway

  // MetaDB is reached as the API account (DML only), as on AWS: created or brought in step here.
  const metaFiles = (await new FileTemplateSource(join(ROOT, 'schemas')).load('meta')) ?? {};
  const host = { hostId: 'local', instanceId: 'local', endpoint: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT };
  await deployMetaDb(host, { ...(await metaDbRoot(metaFiles, parts)), scriptTimeoutSeconds: 120 });
  const dynamo = await parts.get('dynamo');
  // A log store that is down (an unwritable dynalite directory) costs the logs, not the start: its
  // table is made once it is up, and its records wait in the queue meanwhile.
  const logTable = () => createLogTableIfMissing(dynamo, config.OCTODB_LOG_TABLE);
  if (dynalite) await dynalite.whenUp(logTable).catch((error: Error) => logger.error('log table could not be made', { alarm: ALARM.logStoreDown, error }));
  else await logTable();
  logQueue.replaySaved();

  // On AWS schedules invoke the sweeps of abandoned migration jobs and provisionings; locally these
  // timers do, and both also run now: the jobs, cascades and signups a killed earlier run of this
  // process had claimed go on at once (their claims name a process that is gone).
  const sweepMigrations = () => void invoker.invokeAsync('migrate-run', { sweep: true });
  sweepMigrations();
  const sweep = config.OCTODB_MIGRATION_SWEEP_SECONDS > 0 ? setInterval(sweepMigrations, config.OCTODB_MIGRATION_SWEEP_SECONDS * 1000).unref() : undefined;
  const sweepProvisioning = () => void invoker.invokeAsync('provision', { sweep: true });
  sweepProvisioning();
  const provisioningSweep = config.OCTODB_PROVISION_SWEEP_SECONDS > 0 ? setInterval(sweepProvisioning, config.OCTODB_PROVISION_SWEEP_SECONDS * 1000).unref() : undefined;
  // The web portal beside the API, as API Gateway's stage serves it on AWS (lib/api.ts).
  const site = siteRoutes(resolve(ROOT, config.OCTODB_PORTAL_DIR));
  if (!site) logger.warn('no web portal built: `npm run portal:build` (npm start does it)', { dir: config.OCTODB_PORTAL_DIR });
  const server = createGateway({ routes: [...apiRoutes, ...(site ?? [])], authorizer, edge, refusalDelayMs: config.OCTODB_LOCAL_REFUSAL_DELAY_MS });
  await new Promise<void>((resolve) => server.listen(config.PORT, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    parts,
    invoker,
    logQueue,
    dynalite,
    async close() {
      clearInterval(sweep);
      clearInterval(provisioningSweep);
      await new Promise((resolve) => server.close(resolve));
      await invoker.idle();
      await parts.flush();
      await Promise.race([logQueue.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
      logQueue.close(); // saves what is left to the dead-letter file
      await logConsumer.close();
      await parts.close();
      await dynalite?.stop();
    },
  };
}

/** Without skeema on PATH (a Docker set-up), host scripts run in compose's dbhost container. */
function defaultHostRunner(): 'bash' | 'docker' {
  return spawnSync('sh', ['-c', 'command -v skeema'], { stdio: 'ignore' }).status === 0 ? 'bash' : 'docker';
}

/** Local signing and sealing keys: random per checkout, kept in .octodb/ (git-ignored). */
export function localSecrets(): Record<string, string> {
  const file = join(ROOT, '.octodb', 'secrets.json');
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const names = ['OCTODB_JWT_SECRET', 'OCTODB_DATA_KEY', 'OCTODB_API_KEY_SECRET'];
  // A checkout from before a key existed gets that key added; the ones it has are kept.
  if (names.every((name) => kept[name])) return kept;
  const secrets = Object.fromEntries(names.map((name) => [name, kept[name] ?? randomBytes(32).toString('hex')]));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const octo = await startOctoDb();
  console.log(`OctoDB listening on ${octo.url}
Try it:
  curl -s -X POST ${octo.url}/signup -H 'content-type: application/json' \\
    -d '{"name":"Ada","email":"ada@example.com","password":"correct horse battery"}'`);
  const stop = () => void octo.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
