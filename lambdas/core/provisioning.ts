import { buildDropDatabaseScript, buildProvisionScript, runOnHost } from './host-scripts.ts';
import { databaseName, newDatabasePassword, tempSchemaName } from './ids.ts';
import { hostOutputLines, sendBestEffort } from './logs.ts';
import type { DatabaseAccounts, DatabaseRecord, HostRecord, HostRunner, HostRunResult, LogSink, MetaStore, SchemaFiles, TemplateSource } from './ports.ts';
import type { Sealer } from './sealed.ts';

export interface ProvisionDeps {
  meta: MetaStore;
  hostRunner: HostRunner;
  accounts: DatabaseAccounts;
  templates: TemplateSource;
  sealer: Sealer;
  logs: LogSink;
  scriptTimeoutSeconds: number;
}

export type ProvisionOutcome = 'ready' | 'failed' | 'skipped';

/** A claim older than this is a dead worker's: another delivery may take the database over. */
export const STALE_CLAIM_SECONDS = 900;
/** Databases one sweep provisions at most (one after another, within one invocation's time). */
const SWEEP_LIMIT = 3;

/**
 * LF6: creates a tenant's database on its host.
 * Primary course: claim the database, run the provisioning script on the host, give the tenant's
 * MySQL user a fresh password (sealed in MetaDB), mark it `ready`.
 * Any failure: remove what was made, mark `failed` with why.
 *
 * The script first drops whatever an earlier attempt for this db_id left on the host, rather than
 * adopting it. That holds no tenant data: the claim needs status `provisioning`, which a database
 * only has before it was ever `ready` (provisioning → ready | failed, failed → provisioning on a
 * retry), and until `ready` /query and /migrate refuse it and its user has no password anyone knows.
 */
export async function provisionDatabase(dbId: string, deps: ProvisionDeps): Promise<ProvisionOutcome> {
  if (!(await deps.meta.claimProvisioning(dbId, STALE_CLAIM_SECONDS))) return 'skipped';
  const db = await deps.meta.getDatabase(dbId);
  if (!db) return 'skipped'; // the record is gone: nothing to make, nothing to mark
  try {
    const host = await deps.meta.getHost(db.hostId);
    if (!host) return await fail(db, undefined, `host ${db.hostId} is not registered`, deps);
    const files = await deps.templates.load(db.template);
    if (!files) return await fail(db, host, `unknown template ${db.template}`, deps);
    return await provisionOnHost(db, host, files, deps);
  } catch (error) {
    // Whatever broke after the claim, the database must not stay `provisioning` for good.
    return fail(db, await deps.meta.getHost(db.hostId).catch(() => undefined), `provisioning failed: ${(error as Error).message}`, deps);
  }
}

/**
 * LF6's scheduled sweep: a database left `provisioning` by a worker that died (or whose invoke
 * was lost) is provisioned again. Primary course: list the stalled ones, provision each; the
 * claim makes a sweep racing a late delivery harmless.
 */
export async function sweepStalledProvisioning(deps: ProvisionDeps, staleAfterSeconds = STALE_CLAIM_SECONDS): Promise<Record<string, ProvisionOutcome>> {
  const outcomes: Record<string, ProvisionOutcome> = {};
  for (const dbId of await deps.meta.listStalledProvisioning(staleAfterSeconds, SWEEP_LIMIT)) {
    outcomes[dbId] = await provisionDatabase(dbId, deps);
  }
  return outcomes;
}

async function provisionOnHost(db: DatabaseRecord, host: HostRecord, files: SchemaFiles, deps: ProvisionDeps): Promise<ProvisionOutcome> {
  const script = buildProvisionScript({ database: databaseName(db.dbId), user: db.mysqlUser, templateFiles: files, tempSchema: tempSchemaName() });
  const result = await runOnHost(deps.hostRunner, host, script, deps.scriptTimeoutSeconds);
  await sendOutput(deps.logs, db.tenantId, db.dbId, result);
  if (result.exitCode !== 0) return fail(db, host, failureReason(result), deps);
  try {
    const password = newDatabasePassword();
    await deps.accounts.setPassword(host, db.mysqlUser, password);
    await deps.meta.setDatabasePassword(db.dbId, deps.sealer.seal(password));
    await deps.meta.finishProvisioning(db.dbId, 'ready', null);
    return 'ready';
  } catch (error) {
    return fail(db, host, `setting the database password failed: ${(error as Error).message}`, deps);
  }
}

/**
 * Marks the database `failed` (the tenant retries by signing up again) after removing what the
 * host may hold: the script cleans up after itself, this covers one that never ran, was cut off,
 * or a step after it. When that removal fails too the reason says so: the database and user may
 * still be on the host, until the retry's script removes them first.
 */
async function fail(db: DatabaseRecord, host: HostRecord | undefined, reason: string, deps: ProvisionDeps): Promise<'failed'> {
  let cleanup = '';
  if (host) {
    const drop = buildDropDatabaseScript({ database: databaseName(db.dbId), user: db.mysqlUser });
    const result = await runOnHost(deps.hostRunner, host, drop, deps.scriptTimeoutSeconds);
    if (result.exitCode !== 0) cleanup = `; cleanup failed, the database may remain until a retry: ${failureReason(result).slice(0, 300)}`;
  }
  await deps.meta.finishProvisioning(db.dbId, 'failed', `${reason.slice(0, 1000 - cleanup.length)}${cleanup}`);
  return 'failed';
}

/** The most telling line of a failed run: the last error line, else the last line at all. */
export function failureReason(result: HostRunResult): string {
  const lines = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .filter((l) => !l.startsWith('provisioning failed (exit'));
  const reason = [...lines].reverse().find((l) => /error/i.test(l)) ?? lines.at(-1) ?? `exit code ${result.exitCode}`;
  return reason.slice(0, 1000);
}

async function sendOutput(logs: LogSink, tenantId: string, dbId: string, result: HostRunResult): Promise<void> {
  const base = { tenant_id: tenantId, db_id: dbId, source: 'provision', create_timestamp: new Date().toISOString() };
  const exit = { level: result.exitCode === 0 ? ('INFO' as const) : ('ERROR' as const), message: `exit code ${result.exitCode}` };
  await sendBestEffort(logs, [exit, ...hostOutputLines(result)].map((line) => ({ ...base, ...line })));
}
