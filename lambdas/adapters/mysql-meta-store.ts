import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { ConflictError, tenantSuspended, UnavailableError } from '#core/errors';
import type {
  DatabaseRecord,
  DatabaseStatus,
  HostRecord,
  IssuedTokenRecord,
  MetaStore,
  NewDatabase,
  NewTenantOptions,
  RateLimit,
  TenantRateLimits,
  TenantRecord,
  TenantRoute,
  VerificationAttempt,
  VerificationCode,
} from '#core/ports';
import { TENANT_ROUTES } from '#core/ports';
import type { ProvisioningCandidate, ProvisioningClaims } from '#core/provisioning-ports';
import { isDuplicateKey, mapMysqlError } from './mysql-errors.ts';

/** MetaDB on MySQL (schemas/meta), through one mysql2 pool of the admin account. */
export class MysqlMetaStore implements MetaStore, ProvisioningClaims {
  constructor(private readonly pool: Pool) {}

  async createTenant(tenant: Omit<TenantRecord, 'createdAt' | 'suspended'>, db: NewDatabase, options: NewTenantOptions = {}): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      if (options.hostCap !== undefined) await reserveHostPlace(conn, db.hostId, options.hostCap);
      await conn.execute(
        'INSERT INTO tenants (tenant_id, name, email, password_hash, is_admin) VALUES (?, ?, ?, ?, ?)',
        [tenant.tenantId, tenant.name, tenant.email, tenant.passwordHash, tenant.isAdmin ? 1 : 0],
      );
      await conn.execute(
        `INSERT INTO tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user)
         VALUES (?, ?, ?, ?, ?, ?)`,
        [db.dbId, tenant.tenantId, db.hostId, db.template, options.status ?? 'provisioning', db.mysqlUser],
      );
      if (options.verification) await saveCode(conn, db.dbId, options.verification);
      await conn.commit();
    } catch (error) {
      await conn.rollback();
      // The unique index on email decides races between concurrent signups.
      if (isDuplicateKey(error)) throw new ConflictError('An account with this email already exists', undefined, { cause: error });
      throw error;
    } finally {
      conn.release();
    }
  }

  async findTenantByEmail(email: string): Promise<TenantRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM tenants WHERE email = ?', [email]);
    return rows[0] && toTenant(rows[0]);
  }

  async getTenant(tenantId: string): Promise<TenantRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM tenants WHERE tenant_id = ?', [tenantId]);
    return rows[0] && toTenant(rows[0]);
  }

  async getDatabase(dbId: string): Promise<DatabaseRecord | undefined> {
    const [rows] = await this.mapped<RowDataPacket[]>('SELECT * FROM tenant_databases WHERE db_id = ?', [dbId]);
    return rows[0] && toDatabase(rows[0]);
  }

  async listDatabases(tenantId: string): Promise<DatabaseRecord[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT * FROM tenant_databases WHERE tenant_id = ? ORDER BY created_at, db_id',
      [tenantId],
    );
    return rows.map(toDatabase);
  }

  async pickHost(): Promise<HostRecord> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT h.* FROM hosts h LEFT JOIN tenant_databases d ON d.host_id = h.host_id
       WHERE h.active = 1 GROUP BY h.host_id ORDER BY COUNT(d.db_id), h.host_id LIMIT 1`,
    );
    if (!rows[0]) throw new Error('no active MySQL host is registered in MetaDB');
    return toHost(rows[0]);
  }

  async getHost(hostId: string): Promise<HostRecord | undefined> {
    const [rows] = await this.mapped<RowDataPacket[]>('SELECT * FROM hosts WHERE host_id = ?', [hostId]);
    return rows[0] && toHost(rows[0]);
  }

  /** Registers (or updates) a MySQL host; used at start-up and by deployment. */
  async registerHost(host: HostRecord): Promise<void> {
    await this.pool.execute(
      `INSERT INTO hosts (host_id, instance_id, endpoint, port) VALUES (?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE instance_id = VALUES(instance_id), endpoint = VALUES(endpoint), port = VALUES(port), active = 1`,
      [host.hostId, host.instanceId, host.endpoint, host.port],
    );
  }

  // Provisioning's claims (ProvisioningClaims).

  async claimProvisioning(dbId: string, claim: { owner: string; leaseSeconds: number; takeOverFrom?: string }): Promise<boolean> {
    const [result] = await this.mapped<ResultSetHeader>(
      `UPDATE tenant_databases SET claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ?
       WHERE db_id = ? AND status = 'provisioning'
         AND (claimed_at IS NULL OR claimed_by = ? OR claimed_by = ? OR claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)`,
      [claim.owner, dbId, claim.owner, claim.takeOverFrom ?? claim.owner, claim.leaseSeconds],
    );
    return result.affectedRows === 1;
  }

  async renewProvisioning(dbId: string, owner: string): Promise<boolean> {
    const [result] = await this.mapped<ResultSetHeader>(
      "UPDATE tenant_databases SET claimed_at = CURRENT_TIMESTAMP(3) WHERE db_id = ? AND status = 'provisioning' AND claimed_by = ?",
      [dbId, owner],
    );
    return result.affectedRows === 1;
  }

  async releaseProvisioning(dbId: string, owner: string): Promise<void> {
    await this.mapped("UPDATE tenant_databases SET claimed_at = NULL, claimed_by = NULL WHERE db_id = ? AND status = 'provisioning' AND claimed_by = ?", [dbId, owner]);
  }

  async markProvisioned(dbId: string, sealedPassword: string, owner: string): Promise<boolean> {
    const [result] = await this.mapped<ResultSetHeader>(
      `UPDATE tenant_databases SET status = 'ready', status_reason = NULL, mysql_password_sealed = ?, claimed_at = NULL, claimed_by = NULL
       WHERE db_id = ? AND status = 'provisioning' AND claimed_by = ?`,
      [sealedPassword, dbId, owner],
    );
    return result.affectedRows === 1;
  }

  async failProvisioning(dbId: string, reason: string, owner?: string): Promise<boolean> {
    const [result] = await this.mapped<ResultSetHeader>(
      `UPDATE tenant_databases SET status = 'failed', status_reason = ?, mysql_password_sealed = NULL, claimed_at = NULL, claimed_by = NULL
       WHERE db_id = ? AND status = 'provisioning' AND (? IS NULL OR claimed_by = ?)`,
      [reason, dbId, owner ?? null, owner ?? null],
    );
    return result.affectedRows === 1;
  }

  async listProvisioning(leaseSeconds: number, limit: number): Promise<ProvisioningCandidate[]> {
    const [rows] = await this.mapped<RowDataPacket[]>(
      `SELECT db_id, claimed_by, COALESCE(claimed_at, created_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND AS expired
       FROM tenant_databases WHERE status = 'provisioning' ORDER BY created_at LIMIT ?`,
      [leaseSeconds, limit],
    );
    return rows.map((r) => ({ dbId: String(r.db_id), owner: r.claimed_by === null ? null : String(r.claimed_by), expired: Number(r.expired) === 1 }));
  }

  /** What provisioning reads and writes: a driver error worth retrying (MetaDB unreachable) is thrown as TransientError. */
  private async mapped<T extends ResultSetHeader | RowDataPacket[]>(sql: string, params: unknown[]): Promise<[T, unknown]> {
    try {
      return await this.pool.query<T>(sql, params);
    } catch (error) {
      throw mapMysqlError(error);
    }
  }

  async resetFailedDatabase(dbId: string, hostCap?: number): Promise<boolean> {
    return this.changeStatus(dbId, 'failed', hostCap);
  }

  async activateUnverified(dbId: string, hostCap: number): Promise<boolean> {
    return this.changeStatus(dbId, 'unverified', hostCap);
  }

  /** from → provisioning, inside the host's capacity when a cap is given; the database's code is spent with it. */
  private async changeStatus(dbId: string, from: 'failed' | 'unverified', hostCap: number | undefined): Promise<boolean> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const [rows] = await conn.execute<RowDataPacket[]>('SELECT host_id FROM tenant_databases WHERE db_id = ? AND status = ?', [dbId, from]);
      if (!rows[0]) {
        await conn.rollback();
        return false;
      }
      if (hostCap !== undefined) await reserveHostPlace(conn, String(rows[0].host_id), hostCap);
      const [result] = await conn.execute<ResultSetHeader>(
        `UPDATE tenant_databases SET status = 'provisioning', status_reason = NULL, claimed_at = NULL, claimed_by = NULL
         WHERE db_id = ? AND status = ?`,
        [dbId, from],
      );
      await conn.execute('DELETE FROM signup_verifications WHERE db_id = ?', [dbId]);
      await conn.commit();
      return result.affectedRows === 1;
    } catch (error) {
      await conn.rollback().catch(() => undefined);
      throw error;
    } finally {
      conn.release();
    }
  }

  async saveVerificationCode(dbId: string, code: VerificationCode): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await saveCode(conn, dbId, code);
    } finally {
      conn.release();
    }
  }

  async spendVerificationAttempt(dbId: string, maxAttempts: number): Promise<VerificationAttempt> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      `UPDATE signup_verifications SET attempts = attempts + 1
       WHERE db_id = ? AND attempts < ? AND expires_at > CURRENT_TIMESTAMP(3)`,
      [dbId, maxAttempts],
    );
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT code_hash, expires_at > CURRENT_TIMESTAMP(3) AS live FROM signup_verifications WHERE db_id = ?',
      [dbId],
    );
    const row = rows[0];
    if (!row) return { state: 'none' };
    if (result.affectedRows === 1) return { state: 'open', codeHash: String(row.code_hash) };
    return { state: Number(row.live) === 1 ? 'exhausted' : 'expired' };
  }

  async saveIssuedToken(tenantId: string, token: IssuedTokenRecord, whileLocked: () => Promise<void>): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      // The tenant row, not issued_tokens: its row may not exist yet, and two gap locks on a
      // missing key would let both issuances in (then deadlock on the insert).
      const [locked] = await conn.execute<RowDataPacket[]>('SELECT suspended_at FROM tenants WHERE tenant_id = ? FOR UPDATE', [tenantId]);
      // Suspended since the password was checked: the suspension's mark in the registry must stay.
      if (locked[0]?.suspended_at) throw tenantSuspended();
      await conn.execute(
        `INSERT INTO issued_tokens (tenant_id, jti, token_sealed, expires_at) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE jti = VALUES(jti), token_sealed = VALUES(token_sealed),
           expires_at = VALUES(expires_at), issued_at = CURRENT_TIMESTAMP(3)`,
        [tenantId, token.jti, token.tokenSealed, token.expiresAt],
      );
      await whileLocked();
      await conn.commit();
    } catch (error) {
      await conn.rollback().catch(() => undefined);
      throw error;
    } finally {
      conn.release();
    }
  }

  async getIssuedToken(tenantId: string): Promise<IssuedTokenRecord | undefined> {
    return (await this.getTokenState(tenantId)).issued;
  }

  async getTokenState(tenantId: string): Promise<{ issued?: IssuedTokenRecord; suspended: boolean }> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT t.suspended_at, i.jti, i.token_sealed, i.expires_at FROM tenants t
       LEFT JOIN issued_tokens i ON i.tenant_id = t.tenant_id WHERE t.tenant_id = ?`,
      [tenantId],
    );
    const row = rows[0];
    if (!row) return { suspended: false };
    const issued = row.jti === null ? undefined : { jti: row.jti, tokenSealed: row.token_sealed, expiresAt: new Date(row.expires_at) };
    return { issued, suspended: row.suspended_at !== null };
  }

  async getTenantRateLimits(tenantId: string): Promise<TenantRateLimits> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT route, per_second, burst FROM tenant_rate_limits WHERE tenant_id = ?', [tenantId]);
    const limits: TenantRateLimits = {};
    // A row for a route this version does not know is left alone, not a crash.
    for (const row of rows) if ((TENANT_ROUTES as readonly string[]).includes(row.route)) limits[row.route as TenantRoute] = { perSecond: Number(row.per_second), burst: Number(row.burst) };
    return limits;
  }

  async setTenantRateLimit(tenantId: string, route: TenantRoute, limit: RateLimit | null): Promise<void> {
    if (!limit) {
      await this.pool.execute('DELETE FROM tenant_rate_limits WHERE tenant_id = ? AND route = ?', [tenantId, route]);
      return;
    }
    await this.pool.execute(
      `INSERT INTO tenant_rate_limits (tenant_id, route, per_second, burst) VALUES (?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE per_second = VALUES(per_second), burst = VALUES(burst)`,
      [tenantId, route, limit.perSecond, limit.burst],
    );
  }
}

/**
 * Locks the host's row (concurrent signups on one host wait here, so two cannot both take its last
 * place) and refuses when `cap` databases are already made or being made on it.
 */
async function reserveHostPlace(conn: PoolConnection, hostId: string, cap: number): Promise<void> {
  await conn.execute('SELECT host_id FROM hosts WHERE host_id = ? FOR UPDATE', [hostId]);
  const [rows] = await conn.execute<RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM tenant_databases WHERE host_id = ? AND status IN ('provisioning', 'ready')",
    [hostId],
  );
  if (Number(rows[0]?.n) >= cap) {
    throw new UnavailableError('No capacity for new databases right now; try again later', { code: 'NO_CAPACITY', retry_after_seconds: NO_CAPACITY_RETRY_SECONDS });
  }
}

/** Capacity comes back when an operator adds a host or databases go: not within seconds. */
const NO_CAPACITY_RETRY_SECONDS = 3600;

async function saveCode(conn: PoolConnection, dbId: string, code: VerificationCode): Promise<void> {
  await conn.execute(
    `INSERT INTO signup_verifications (db_id, code_hash, expires_at) VALUES (?, ?, ?)
     ON DUPLICATE KEY UPDATE code_hash = VALUES(code_hash), expires_at = VALUES(expires_at), attempts = 0, created_at = CURRENT_TIMESTAMP(3)`,
    [dbId, code.codeHash, code.expiresAt],
  );
}

function toTenant(row: RowDataPacket): TenantRecord {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    email: row.email,
    passwordHash: row.password_hash,
    isAdmin: row.is_admin === 1,
    createdAt: new Date(row.created_at),
    suspended: row.suspended_at !== null,
  };
}

function toDatabase(row: RowDataPacket): DatabaseRecord {
  return {
    dbId: row.db_id,
    tenantId: row.tenant_id,
    hostId: row.host_id,
    template: row.template,
    status: row.status as DatabaseStatus,
    statusReason: row.status_reason,
    mysqlUser: row.mysql_user,
    mysqlPasswordSealed: row.mysql_password_sealed,
    createdAt: new Date(row.created_at),
  };
}

function toHost(row: RowDataPacket): HostRecord {
  return { hostId: row.host_id, instanceId: row.instance_id, endpoint: row.endpoint, port: Number(row.port) };
}
