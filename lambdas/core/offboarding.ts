import { ConflictError, NotFoundError, ProhibitedError, tenantSuspended, UnauthorizedError, UnavailableError } from './errors.ts';
import { backupLocation } from './backup-scripts.ts';
import { buildDropDatabasesScript, runOnHost } from './host-scripts.ts';
import { eraseBaseBackupsLines } from './pitr-scripts.ts';
import { databaseName } from './ids.ts';
import type { ErasedDatabase, ErasureRecord, ErasureRequester, ErasureStore, LogEraser } from './offboarding-ports.ts';
import type { HostRunner, Invoker, MetaStore, PasswordHasher, TokenRegistry } from './ports.ts';
import type { ClaimOwners } from './provisioning-ports.ts';
import { failureReason } from './provisioning.ts';
import { type ClientRateDeps, withFailureBudget } from './rate-limits.ts';

/** The worker's part of an erasure (LF6's function on AWS: it holds the host runner; no Redis). */
export interface EraseDeps {
  erasures: ErasureStore;
  meta: Pick<MetaStore, 'getHost'>;
  hostRunner: HostRunner;
  logEraser: LogEraser;
  owners: ClaimOwners;
  scriptTimeoutSeconds: number;
  /** OCTODB_PROVISION_LEASE_SECONDS: an erasure's claim not renewed for this long is a dead worker's. */
  leaseSeconds: number;
  /** The backup store's root (OCTODB_BACKUP_DIR): the databases' base backups are erased with them. */
  backupRoot: string;
}

/** Whoever begins an erasure or a suspension: it also tells every token check at once (Redis). */
export interface LifecycleDeps {
  erasures: ErasureStore;
  meta: Pick<MetaStore, 'getTenant' | 'findTenantByEmail'>;
  registry: TokenRegistry;
  /** OCTODB_TOKEN_TTL_SECONDS: no token outlives it, so neither need the registry's mark. */
  tokenTtlSeconds: number;
}

export type DeleteOwnAccountDeps = LifecycleDeps & ClientRateDeps & { passwords: PasswordHasher; invoker: Invoker };

/** /dashboard's deps for `delete_account`: made when that action runs, not for every dashboard request. */
export interface AccountDeps {
  deleteAccount: () => Promise<DeleteOwnAccountDeps>;
}

/** Databases dropped per host script (one SSM command); a tenant with more takes several. */
export const DROP_CHUNK = 100;
/** Erasures one sweep looks at; the rest, the next sweep. */
const SWEEP_LIMIT = 50;
/** Within one invocation's time: an erasure past it is left `running` for the next sweep. */
const SWEEP_BUDGET_MS = 180_000;

/** What an erasure answers: the record, without personal data. */
export function describeErasure(e: ErasureRecord) {
  return {
    tenant_id: e.tenantId,
    state: e.state,
    requested_by: e.requestedBy,
    requested_at: e.requestedAt.toISOString(),
    finished_at: e.finishedAt?.toISOString() ?? null,
    db_ids: e.dbIds,
    databases_dropped: e.databasesDropped,
    api_keys_deleted: e.apiKeysDeleted,
    log_items_deleted: e.logItemsDeleted,
    children_detached: e.childrenDetached,
  };
}

/**
 * Operator command `delete-tenant` (by id or email): erases the tenant and waits for it.
 * Primary course: begin the erasure (recorded, the tenant suspended, its databases fenced), mark
 * its tokens for MetaDB's word, then run every step here. A rerun (after a crash, or of an erased
 * tenant's id) resumes or answers the record.
 */
export async function deleteTenant(input: { tenant: string }, deps: LifecycleDeps & EraseDeps) {
  const tenantId = await tenantIdOf(input.tenant, deps, true);
  const begun = await beginErasure(tenantId, 'operator', deps);
  if (begun.state === 'done') return describeErasure(begun);
  try {
    if ((await runErasure(tenantId, deps)) === 'skipped') throw new ConflictError('Another worker is running this erasure now; run the command again to see its record');
  } catch (error) {
    if (error instanceof ConflictError) throw error;
    throw new UnavailableError(`The erasure of ${tenantId} stopped (${(error as Error).message}); it stays recorded as running: run the command again, or the sweep finishes it`, { code: 'ERASURE_UNFINISHED' }, { cause: error });
  }
  return describeErasure((await deps.erasures.getErasure(tenantId))!);
}

/**
 * /dashboard `delete_account`: the tenant erases itself, with its password.
 * Primary course: check the password (bcrypt off the request thread, under the login failure
 * budget), begin the erasure, and hand the rest to the worker (LF6's function), which drops the
 * databases on their hosts. From this answer on, the token and keys are refused.
 */
export async function deleteOwnAccount(input: { password: string }, tenantId: string, deps: DeleteOwnAccountDeps) {
  const tenant = await deps.meta.getTenant(tenantId);
  if (!tenant) throw tenantSuspended(); // erased meanwhile: its token is on its way out
  try {
    await withFailureBudget(tenant.email, deps, async () => {
      if (!(await deps.passwords.verify(input.password, tenant.passwordHash))) throw new UnauthorizedError('Wrong password');
    });
  } catch (error) {
    // 403, not 401: the token is good, and a client must not take this for "log in again".
    if (error instanceof UnauthorizedError) throw new ProhibitedError('Wrong password: the account was not deleted', { code: 'WRONG_PASSWORD' }, { cause: error });
    throw error;
  }
  const record = await beginErasure(tenantId, 'tenant', deps);
  await deps.invoker.invokeAsync('provision', { erase: tenantId });
  return describeErasure(record);
}

/** Operator commands `suspend-tenant` / `resume-tenant`: refuse (or serve again) the tenant's requests; its data stays. */
export async function setTenantSuspended(input: { tenant: string; suspended: boolean }, deps: LifecycleDeps) {
  const tenantId = await tenantIdOf(input.tenant, deps, false);
  if (!(await deps.erasures.setSuspended(tenantId, input.suspended))) {
    throw new NotFoundError(input.suspended ? `No tenant ${input.tenant}` : `No tenant ${input.tenant} to resume (an erased tenant stays suspended)`);
  }
  // Suspended: every cached token answer is replaced at once. Resumed: the mark goes, MetaDB answers again.
  if (input.suspended) await deps.registry.suspend(tenantId, new Date(Date.now() + deps.tokenTtlSeconds * 1000));
  else await deps.registry.forget(tenantId);
  return { tenant_id: tenantId, status: input.suspended ? ('suspended' as const) : ('active' as const) };
}

/** By email, or by id; an id may name a tenant already erased (its record answers). */
async function tenantIdOf(tenant: string, deps: LifecycleDeps, erasedToo: boolean): Promise<string> {
  const found = tenant.includes('@') ? await deps.meta.findTenantByEmail(tenant.toLowerCase()) : await deps.meta.getTenant(tenant);
  if (found) return found.tenantId;
  if (erasedToo && !tenant.includes('@') && (await deps.erasures.getErasure(tenant))) return tenant;
  throw new NotFoundError(`No tenant ${tenant}`);
}

async function beginErasure(tenantId: string, requestedBy: ErasureRequester, deps: LifecycleDeps): Promise<ErasureRecord> {
  const record = await deps.erasures.beginErasure(tenantId, requestedBy);
  if (!record) throw new NotFoundError(`No tenant ${tenantId}`);
  // Every process's cached answer for its token is dropped now; from here MetaDB says "suspended", then "no such tenant".
  if (record.state === 'running') await deps.registry.suspend(tenantId, new Date(Date.now() + deps.tokenTtlSeconds * 1000));
  return record;
}

/**
 * The erasure's steps, each safe to run again, in an order a crash cannot spoil: drop the
 * databases and users on their hosts (read from MetaDB, so they go before its rows), delete the
 * MetaDB rows in one transaction, delete the log partition page by page, then mark it done.
 * 'skipped' when another live worker holds it. A failing step throws: the record stays
 * `running` and the sweep (or a rerun) takes it on.
 */
export async function runErasure(tenantId: string, deps: EraseDeps, takeOverFrom?: string): Promise<'done' | 'skipped'> {
  if (!(await deps.erasures.claimErasure(tenantId, { owner: deps.owners.self, leaseSeconds: deps.leaseSeconds, takeOverFrom }))) return 'skipped';
  const beat = setInterval(
    () => void deps.erasures.claimErasure(tenantId, { owner: deps.owners.self, leaseSeconds: deps.leaseSeconds }).catch(() => undefined),
    (deps.leaseSeconds * 1000) / 3,
  );
  try {
    await dropDatabases(tenantId, deps);
    await deps.erasures.deleteTenantRows(tenantId);
    for (let n = await deps.logEraser.deletePage(tenantId); n > 0; n = await deps.logEraser.deletePage(tenantId)) {
      await deps.erasures.countLogItems(tenantId, n);
    }
    await deps.erasures.finishErasure(tenantId);
    return 'done';
  } finally {
    clearInterval(beat);
  }
}

/** The sweep (LF6's schedule, `npm start`'s timer): erasures left `running` by a worker that died or failed. */
export async function sweepStalledErasures(deps: EraseDeps): Promise<Record<string, 'done' | 'skipped' | 'failed'>> {
  const stopAt = Date.now() + SWEEP_BUDGET_MS;
  const outcomes: Record<string, 'done' | 'skipped' | 'failed'> = {};
  for (const c of await deps.erasures.listRunningErasures(deps.leaseSeconds, SWEEP_LIMIT)) {
    if (Date.now() >= stopAt) break;
    const gone = c.owner !== null && deps.owners.isGone(c.owner);
    if (!c.expired && !gone && c.owner !== deps.owners.self) continue;
    outcomes[c.tenantId] = await runErasure(c.tenantId, deps, gone ? c.owner! : undefined).catch(() => 'failed' as const);
  }
  return outcomes;
}

/** Every database of the tenant, a host script per host per chunk; a failed script throws (the rerun drops again). */
async function dropDatabases(tenantId: string, deps: EraseDeps): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const page = await deps.erasures.listErasedDatabases(tenantId, DROP_CHUNK, after);
    if (page.length === 0) return;
    after = page.at(-1)!.dbId;
    const byHost = new Map<string, ErasedDatabase[]>();
    for (const db of page) byHost.set(db.hostId, [...(byHost.get(db.hostId) ?? []), db]);
    for (const [hostId, dbs] of byHost) {
      const host = await deps.meta.getHost(hostId);
      if (!host) throw new Error(`host ${hostId} is not registered`);
      const drop = buildDropDatabasesScript(dbs.map((db) => ({ database: databaseName(db.dbId), user: db.mysqlUser, backups: backupLocation(db.dbId, '').schema })));
      // Their base backups (point-in-time restore) hold the same rows: removed by the same script.
      const script = drop + eraseBaseBackupsLines({ databases: dbs.map((db) => databaseName(db.dbId)), root: deps.backupRoot });
      const result = await runOnHost(deps.hostRunner, host, script, deps.scriptTimeoutSeconds);
      if (result.exitCode !== 0) throw new Error(`dropping the tenant's databases or their base backups on ${hostId} failed: ${failureReason(result)}`);
    }
  }
}
