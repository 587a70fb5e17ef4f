import { TransientError } from './errors.ts';
import { buildDropDatabaseScript, buildProvisionScript, runOnHost } from './host-scripts.ts';
import { databaseName, newDatabasePassword, tempSchemaName } from './ids.ts';
import { hostOutputLines, sendBestEffort } from './logs.ts';
import type { DatabaseAccounts, DatabaseRecord, HostRecord, HostRunner, HostRunResult, LogSink, MetaStore, SchemaFiles, TemplateSource } from './ports.ts';
import type { ClaimOwners, ProvisioningCandidate, ProvisioningClaims } from './provisioning-ports.ts';
import { exponential, retry, type Sleep } from './retry.ts';
import type { Sealer } from './sealed.ts';
import { classify, TRANSIENT_ERRNOS } from './skeema.ts';

export interface ProvisionDeps {
  meta: MetaStore;
  claims: ProvisioningClaims;
  owners: ClaimOwners;
  hostRunner: HostRunner;
  accounts: DatabaseAccounts;
  templates: TemplateSource;
  sealer: Sealer;
  logs: LogSink;
  scriptTimeoutSeconds: number;
  /** OCTODB_PROVISION_LEASE_SECONDS: a claim not renewed for this long is a dead worker's. */
  leaseSeconds: number;
  /** OCTODB_PROVISION_RETRY_SECONDS: how long one provisioning retries transient failures. */
  retrySeconds: number;
  sleep?: Sleep;
}

/** `deferred`: still failing transiently when its retry time ran out; the sweep takes it on. */
export type ProvisionOutcome = 'ready' | 'failed' | 'skipped' | 'deferred';
type Attempt = ProvisionOutcome | 'transient';

/** Provisionings one sweep looks at, runs side by side, and starts within (the rest: the next sweep). */
const SWEEP_LIMIT = 500;
const SWEEP_CONCURRENCY = 4;
const SWEEP_BUDGET_MS = 180_000;
/** Waits between tries of a transient failure: 0.5 s doubling to 5 s, so a server back up is used within 5 s. */
const RETRY_DELAY = exponential(500, 5000);

/** Databases this process is provisioning right now: a sweep or a late delivery leaves them be. */
const running = new Set<string>();

/**
 * LF6: creates a tenant's database on its host.
 * Primary course: claim the database, run the provisioning script on the host, give the tenant's
 * MySQL user a fresh password, mark it `ready` with the password sealed (while the claim is still ours).
 * A transient failure (MetaDB or the host's MySQL unreachable) is tried again with backoff for
 * `retrySeconds`, holding the claim; past that the claim is given up and the sweep takes it on.
 * Any other failure: remove what was made, mark `failed` with why.
 *
 * The script first drops whatever an earlier attempt for this db_id left on the host, rather than
 * adopting it. That holds no tenant data: the claim needs status `provisioning`, which a database
 * only has before it was ever `ready` (provisioning → ready | failed, failed → provisioning on a
 * retry), and until `ready` /query and /migrate refuse it and its user has no password anyone knows.
 */
export async function provisionDatabase(dbId: string, deps: ProvisionDeps, takeOverFrom?: string): Promise<ProvisionOutcome> {
  if (running.has(dbId)) return 'skipped';
  running.add(dbId);
  try {
    const { value } = await retry(() => attempt(dbId, deps, takeOverFrom), {
      retryIf: (outcome) => outcome === 'transient',
      deadline: Date.now() + deps.retrySeconds * 1000,
      delayMs: RETRY_DELAY,
      sleep: deps.sleep,
    });
    if (value !== 'transient') return value;
    // Free at once for the next sweep when MetaDB hears it; else the lease runs out.
    await deps.claims.releaseProvisioning(dbId, deps.owners.self).catch(() => undefined);
    return 'deferred';
  } finally {
    running.delete(dbId);
  }
}

/**
 * LF6's sweep (a schedule on AWS, a timer and each start locally): a database left `provisioning`
 * by a worker that died, gave up, or whose invoke was lost is provisioned again. Primary course:
 * list them, take those whose lease ran out, whose holder is known to be gone, or that are this
 * process's own, and provision them a few at a time; the claim makes racing a late delivery harmless.
 */
export async function sweepStalledProvisioning(deps: ProvisionDeps): Promise<Record<string, ProvisionOutcome>> {
  const due = (await deps.claims.listProvisioning(deps.leaseSeconds, SWEEP_LIMIT)).filter((c) => !running.has(c.dbId) && takeable(c, deps.owners));
  const outcomes: Record<string, ProvisionOutcome> = {};
  const stopAt = Date.now() + SWEEP_BUDGET_MS; // within one invocation's time; what is left, the next sweep takes
  let next = 0;
  const worker = async () => {
    for (let c = due[next++]; c && Date.now() < stopAt; c = due[next++]) {
      outcomes[c.dbId] = await provisionDatabase(c.dbId, deps, c.owner !== null && deps.owners.isGone(c.owner) ? c.owner : undefined);
    }
  };
  await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
  return outcomes;
}

function takeable(c: ProvisioningCandidate, owners: ClaimOwners): boolean {
  return c.expired || (c.owner !== null && (c.owner === owners.self || owners.isGone(c.owner)));
}

async function attempt(dbId: string, deps: ProvisionDeps, takeOverFrom: string | undefined): Promise<Attempt> {
  try {
    if (!(await deps.claims.claimProvisioning(dbId, { owner: deps.owners.self, leaseSeconds: deps.leaseSeconds, takeOverFrom }))) return 'skipped';
    const db = await deps.meta.getDatabase(dbId);
    if (!db) return 'skipped'; // the record is gone: nothing to make, nothing to mark
    return await whileRenewing(dbId, deps, () => provisionClaimed(db, deps));
  } catch (error) {
    if (error instanceof TransientError) return 'transient';
    throw error;
  }
}

/** Runs `work` while renewing the claim every third of the lease, so only a dead worker's claim runs out. */
async function whileRenewing<T>(dbId: string, deps: ProvisionDeps, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => void deps.claims.renewProvisioning(dbId, deps.owners.self).catch(() => undefined), (deps.leaseSeconds * 1000) / 3);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

async function provisionClaimed(db: DatabaseRecord, deps: ProvisionDeps): Promise<Attempt> {
  try {
    const host = await deps.meta.getHost(db.hostId);
    if (!host) return await fail(db, undefined, `host ${db.hostId} is not registered`, deps);
    const files = await deps.templates.load(db.template);
    if (!files) return await fail(db, host, `unknown template ${db.template}`, deps);
    return await provisionOnHost(db, host, files, deps);
  } catch (error) {
    if (error instanceof TransientError) return 'transient';
    // Whatever broke after the claim, the database must not stay `provisioning` for good.
    return fail(db, await deps.meta.getHost(db.hostId).catch(() => undefined), `provisioning failed: ${(error as Error).message}`, deps);
  }
}

async function provisionOnHost(db: DatabaseRecord, host: HostRecord, files: SchemaFiles, deps: ProvisionDeps): Promise<Attempt> {
  const script = buildProvisionScript({ database: databaseName(db.dbId), user: db.mysqlUser, templateFiles: files, tempSchema: tempSchemaName() });
  const result = await runOnHost(deps.hostRunner, host, script, deps.scriptTimeoutSeconds);
  await sendOutput(deps.logs, db.tenantId, db.dbId, result);
  if (result.exitCode !== 0) return transientRun(result) ? 'transient' : fail(db, host, failureReason(result), deps);
  // Taken over while the script ran (our heartbeat failed for a whole lease): the new holder sets the password.
  if (!(await deps.claims.renewProvisioning(db.dbId, deps.owners.self))) return 'skipped';
  const password = newDatabasePassword();
  try {
    await deps.accounts.setPassword(host, db.mysqlUser, password);
  } catch (error) {
    if (error instanceof TransientError) return 'transient';
    return fail(db, host, `setting the database password failed: ${(error as Error).message}`, deps);
  }
  return (await deps.claims.markProvisioned(db.dbId, deps.sealer.seal(password), deps.owners.self)) ? 'ready' : 'skipped';
}

/**
 * A run worth trying again: the host command did not start, or MySQL could not be reached or was
 * busy (Skeema's error line, or the mysql client's `ERROR NNNN (…)`, by the server's error number).
 */
function transientRun(result: HostRunResult): boolean {
  if (classify(result).kind === 'transient') return true;
  const errno = Number(/^ERROR (\d{4,5}) \(/m.exec(result.stderr)?.[1] ?? 0);
  return TRANSIENT_ERRNOS.has(errno);
}

/**
 * Marks the database `failed` (the tenant retries by signing up again) after removing what the
 * host may hold: the script cleans up after itself, this covers one that never ran, was cut off,
 * or a step after it. When that removal fails too the reason says so: the database and user may
 * still be on the host, until the retry's script removes them first.
 */
async function fail(db: DatabaseRecord, host: HostRecord | undefined, reason: string, deps: ProvisionDeps): Promise<'failed' | 'skipped'> {
  // Taken over meanwhile: what is on the host is the new holder's now, and so is the outcome.
  if (!(await deps.claims.renewProvisioning(db.dbId, deps.owners.self))) return 'skipped';
  let cleanup = '';
  if (host) {
    const drop = buildDropDatabaseScript({ database: databaseName(db.dbId), user: db.mysqlUser });
    const result = await runOnHost(deps.hostRunner, host, drop, deps.scriptTimeoutSeconds);
    if (result.exitCode !== 0) cleanup = `; cleanup failed, the database may remain until a retry: ${failureReason(result).slice(0, 300)}`;
  }
  const marked = await deps.meta.failProvisioning(db.dbId, `${reason.slice(0, 1000 - cleanup.length)}${cleanup}`, deps.owners.self);
  return marked ? 'failed' : 'skipped';
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
