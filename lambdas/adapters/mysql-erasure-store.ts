import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ErasedDatabase, ErasureCandidate, ErasureRecord, ErasureRequester, ErasureStore } from '#core/offboarding-ports';

/**
 * MetaDB's side of a tenant's lifecycle (schemas/meta/tenant_erasures.sql, tenants.suspended_at).
 * Every row keyed by the tenant's databases or by the tenant is listed here: a new table holding
 * tenant data must be added to TENANT_ROWS, or an erasure leaves it behind.
 */
export class MysqlErasureStore implements ErasureStore {
  constructor(private readonly pool: Pool) {}

  async beginErasure(tenantId: string, requestedBy: ErasureRequester): Promise<ErasureRecord | undefined> {
    return this.inTransaction(async (conn) => {
      const [tenants] = await conn.execute<RowDataPacket[]>('SELECT is_admin FROM tenants WHERE tenant_id = ? FOR UPDATE', [tenantId]);
      const [existing] = await conn.execute<RowDataPacket[]>('SELECT tenant_id FROM tenant_erasures WHERE tenant_id = ?', [tenantId]);
      if (!existing[0]) {
        if (!tenants[0]) return undefined;
        const [dbs] = await conn.execute<RowDataPacket[]>('SELECT db_id FROM tenant_databases WHERE tenant_id = ? ORDER BY db_id', [tenantId]);
        const dbIds = dbs.map((r) => String(r.db_id));
        const [children] = await conn.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM tenant_databases WHERE template IN (?) AND tenant_id <> ?',
          [dbIds.length ? dbIds : [''], tenantId],
        );
        await conn.execute(
          'INSERT INTO tenant_erasures (tenant_id, requested_by, was_admin, db_ids, children_detached) VALUES (?, ?, ?, ?, ?)',
          [tenantId, requestedBy, Number(tenants[0].is_admin), JSON.stringify(dbIds), Number(children[0]!.n)],
        );
      }
      if (tenants[0]) {
        await conn.execute('UPDATE tenants SET suspended_at = COALESCE(suspended_at, CURRENT_TIMESTAMP(3)) WHERE tenant_id = ?', [tenantId]);
        // Provisioning's claims, its `ready` and its retries all need another status: none starts again.
        // No answer ever shows `deleting` (the tenant is suspended), so DatabaseStatus does not list it.
        await conn.execute("UPDATE tenant_databases SET status = 'deleting', claimed_at = NULL, claimed_by = NULL WHERE tenant_id = ?", [tenantId]);
      }
      return erasureOf(conn, tenantId);
    });
  }

  async getErasure(tenantId: string): Promise<ErasureRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM tenant_erasures WHERE tenant_id = ?', [tenantId]);
    return rows[0] && toErasure(rows[0]);
  }

  async claimErasure(tenantId: string, claim: { owner: string; leaseSeconds: number; takeOverFrom?: string }): Promise<boolean> {
    const [result] = await this.pool.query<ResultSetHeader>(
      `UPDATE tenant_erasures SET claimed_by = ?, claimed_at = CURRENT_TIMESTAMP(3)
       WHERE tenant_id = ? AND state = 'running'
         AND (claimed_at IS NULL OR claimed_by = ? OR claimed_by = ? OR claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)`,
      [claim.owner, tenantId, claim.owner, claim.takeOverFrom ?? claim.owner, claim.leaseSeconds],
    );
    return result.affectedRows === 1;
  }

  async listRunningErasures(leaseSeconds: number, limit: number): Promise<ErasureCandidate[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT tenant_id, claimed_by, COALESCE(claimed_at, requested_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND AS expired
       FROM tenant_erasures WHERE state = 'running' ORDER BY requested_at LIMIT ?`,
      [leaseSeconds, limit],
    );
    return rows.map((r) => ({ tenantId: String(r.tenant_id), owner: r.claimed_by === null ? null : String(r.claimed_by), expired: Number(r.expired) === 1 }));
  }

  async listErasedDatabases(tenantId: string, limit: number, afterDbId = ''): Promise<ErasedDatabase[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT db_id, host_id, mysql_user FROM tenant_databases WHERE tenant_id = ? AND db_id > ? ORDER BY db_id LIMIT ?',
      [tenantId, afterDbId, limit],
    );
    return rows.map((r) => ({ dbId: String(r.db_id), hostId: String(r.host_id), mysqlUser: String(r.mysql_user) }));
  }

  async deleteTenantRows(tenantId: string): Promise<void> {
    await this.inTransaction(async (conn) => {
      const counts = { databases: 0, keys: 0 };
      for (const [table, sql] of TENANT_ROWS) {
        const [result] = await conn.query<ResultSetHeader>(sql, [tenantId]);
        if (table === 'tenant_databases') counts.databases = result.affectedRows;
        if (table === 'api_keys') counts.keys = result.affectedRows;
      }
      await conn.execute(
        'UPDATE tenant_erasures SET databases_dropped = databases_dropped + ?, api_keys_deleted = api_keys_deleted + ? WHERE tenant_id = ?',
        [counts.databases, counts.keys, tenantId],
      );
    });
  }

  async countLogItems(tenantId: string, deleted: number): Promise<void> {
    await this.pool.execute('UPDATE tenant_erasures SET log_items_deleted = log_items_deleted + ? WHERE tenant_id = ?', [deleted, tenantId]);
  }

  async finishErasure(tenantId: string): Promise<void> {
    await this.pool.execute(
      "UPDATE tenant_erasures SET state = 'done', finished_at = CURRENT_TIMESTAMP(3), claimed_by = NULL, claimed_at = NULL WHERE tenant_id = ? AND state = 'running'",
      [tenantId],
    );
  }

  async setSuspended(tenantId: string, suspended: boolean): Promise<boolean> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      suspended
        ? 'UPDATE tenants SET suspended_at = COALESCE(suspended_at, CURRENT_TIMESTAMP(3)) WHERE tenant_id = ?'
        : 'UPDATE tenants SET suspended_at = NULL WHERE tenant_id = ? AND NOT EXISTS (SELECT 1 FROM tenant_erasures e WHERE e.tenant_id = tenants.tenant_id)',
      [tenantId],
    );
    return result.affectedRows === 1;
  }

  private async inTransaction<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const result = await work(conn);
      await conn.commit();
      return result;
    } catch (error) {
      await conn.rollback().catch(() => undefined);
      throw error;
    } finally {
      conn.release();
    }
  }
}

const OF_DBS = 'SELECT db_id FROM tenant_databases WHERE tenant_id = ?';
const OF_JOBS = `SELECT job_id FROM migration_jobs WHERE db_id IN (${OF_DBS})`;

/**
 * A tenant's rows, children before parents (the foreign keys), the tenant row last. Migration
 * rows are the tenant's databases' (its own jobs, and a parent's cascade jobs on them) and its
 * batches; a parent's cascade jobs on other tenants' databases stay with those tenants.
 * Each statement takes the tenant id once.
 */
const TENANT_ROWS: [table: string, sql: string][] = [
  ['migration_audit', `DELETE FROM migration_audit WHERE job_id IN (SELECT job_id FROM (${OF_JOBS}) j)`],
  ['migration_jobs', `DELETE FROM migration_jobs WHERE db_id IN (SELECT db_id FROM (${OF_DBS}) d)`],
  // A parent's batch still holding its cascade's jobs on other tenants' databases stays (it holds ids only).
  ['migration_batches', 'DELETE FROM migration_batches WHERE tenant_id = ? AND NOT EXISTS (SELECT 1 FROM migration_jobs j WHERE j.batch_id = migration_batches.batch_id)'],
  ['table_customizations', `DELETE FROM table_customizations WHERE db_id IN (SELECT db_id FROM (${OF_DBS}) d)`],
  ['table_backups', 'DELETE FROM table_backups WHERE tenant_id = ?'],
  ['base_backups', `DELETE FROM base_backups WHERE db_id IN (SELECT db_id FROM (${OF_DBS}) d)`],
  ['database_restores', 'DELETE FROM database_restores WHERE tenant_id = ?'],
  ['signup_verifications', `DELETE FROM signup_verifications WHERE db_id IN (SELECT db_id FROM (${OF_DBS}) d)`],
  ['api_keys', 'DELETE FROM api_keys WHERE tenant_id = ?'],
  ['issued_tokens', 'DELETE FROM issued_tokens WHERE tenant_id = ?'],
  ['tenant_quotas', 'DELETE FROM tenant_quotas WHERE tenant_id = ?'],
  ['tenant_rate_limits', 'DELETE FROM tenant_rate_limits WHERE tenant_id = ?'],
  ['tenant_databases', 'DELETE FROM tenant_databases WHERE tenant_id = ?'],
  ['tenants', 'DELETE FROM tenants WHERE tenant_id = ?'],
];

async function erasureOf(conn: PoolConnection, tenantId: string): Promise<ErasureRecord | undefined> {
  const [rows] = await conn.execute<RowDataPacket[]>('SELECT * FROM tenant_erasures WHERE tenant_id = ?', [tenantId]);
  return rows[0] && toErasure(rows[0]);
}

function toErasure(row: RowDataPacket): ErasureRecord {
  return {
    tenantId: row.tenant_id,
    requestedBy: row.requested_by as ErasureRequester,
    state: row.state as ErasureRecord['state'],
    wasAdmin: Number(row.was_admin) === 1,
    dbIds: JSON.parse(String(row.db_ids)) as string[],
    databasesDropped: Number(row.databases_dropped),
    apiKeysDeleted: Number(row.api_keys_deleted),
    logItemsDeleted: Number(row.log_items_deleted),
    childrenDetached: Number(row.children_detached),
    requestedAt: new Date(row.requested_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
  };
}
