/**
 * The ports of a tenant's lifecycle (issue 16): suspension and erasure. MetaDB implements the
 * store; the log table, the deletion of a tenant's log partition.
 */

/** Who asked for an erasure: the operator (`npm run admin`, the admin function) or the tenant itself. */
export type ErasureRequester = 'operator' | 'tenant';

export type ErasureState = 'running' | 'done';

/**
 * What is kept of an erased tenant: ids, times, who asked, counts; never its name, email or
 * password hash. Recorded before anything is deleted, so a crash midway leaves it `running`.
 */
export interface ErasureRecord {
  tenantId: string;
  requestedBy: ErasureRequester;
  state: ErasureState;
  wasAdmin: boolean;
  dbIds: string[];
  databasesDropped: number;
  apiKeysDeleted: number;
  logItemsDeleted: number;
  /** Other tenants' databases made from this tenant's (a parent's children): kept, no longer following it. */
  childrenDetached: number;
  requestedAt: Date;
  finishedAt: Date | null;
}

/** A database of the erased tenant as the erasure drops it. */
export interface ErasedDatabase {
  dbId: string;
  hostId: string;
  mysqlUser: string;
}

export interface ErasureCandidate {
  tenantId: string;
  owner: string | null;
  /** The claim was not renewed for a lease (or never taken since the request). */
  expired: boolean;
}

/** MetaDB's tenant_erasures and the deletion of a tenant's rows. */
export interface ErasureStore {
  /**
   * In one transaction, under a lock on the tenant's row: records the erasure (`running`), suspends
   * the tenant and sets its databases `deleting` (provisioning's claims need `provisioning`, so none
   * is taken again). The record already there when the erasure was begun before (a rerun).
   * Undefined when neither the tenant nor an erasure of it exists.
   */
  beginErasure(tenantId: string, requestedBy: ErasureRequester): Promise<ErasureRecord | undefined>;
  getErasure(tenantId: string): Promise<ErasureRecord | undefined>;
  /** Takes a `running` erasure for `owner`, as provisioning's claims do (a lease; a gone owner's at once). */
  claimErasure(tenantId: string, claim: { owner: string; leaseSeconds: number; takeOverFrom?: string }): Promise<boolean>;
  /** Erasures still `running`, oldest first, with their claim's holder and whether its lease ran out. */
  listRunningErasures(leaseSeconds: number, limit: number): Promise<ErasureCandidate[]>;
  /** The tenant's databases still in MetaDB, at most `limit`, after `afterDbId` (key order). */
  listErasedDatabases(tenantId: string, limit: number, afterDbId?: string): Promise<ErasedDatabase[]>;
  /**
   * Deletes every MetaDB row of the tenant (its databases' jobs, audit rows, customizations, codes;
   * its batches, keys, token, quota, limits, databases, and the tenant row last) in one transaction,
   * and adds what it deleted to the erasure's counts. Nothing left: nothing deleted, nothing added.
   */
  deleteTenantRows(tenantId: string): Promise<void>;
  /** Adds to the erasure's count of deleted log items (as each page goes). */
  countLogItems(tenantId: string, deleted: number): Promise<void>;
  /** `running` → `done`, its claim released. */
  finishErasure(tenantId: string): Promise<void>;
  /** Sets or clears the tenant's suspension; false when there is no such tenant (or it is being erased, for a resume). */
  setSuspended(tenantId: string, suspended: boolean): Promise<boolean>;
}

/** The log table: a tenant's partition deleted page by page. */
export interface LogEraser {
  /**
   * Deletes up to one page of the tenant's items (logs, query records, statistics buckets);
   * answers how many it deleted: 0 once the partition is empty.
   */
  deletePage(tenantId: string): Promise<number>;
}
