import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ApiKeyRecord, ApiKeyScope, ApiKeyStore, FoundApiKey } from '#core/ports';

const COLUMNS = 'key_id, tenant_id, name, scope, db_id, db_bound, created_at, expires_at, last_used_at, revoked_at';

/** MetaDB's api_keys table (schemas/meta/api_keys.sql). */
export class MysqlApiKeyStore implements ApiKeyStore {
  constructor(private readonly pool: Pool) {}

  async createApiKey(key: ApiKeyRecord, hash: Uint8Array, limit: number): Promise<boolean> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      // The tenant row is the lock: a count alone under REPEATABLE READ would let two creations both pass.
      await conn.execute('SELECT tenant_id FROM tenants WHERE tenant_id = ? FOR UPDATE', [key.tenantId]);
      const [rows] = await conn.execute<RowDataPacket[]>(
        'SELECT COUNT(*) AS live FROM api_keys WHERE tenant_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)',
        [key.tenantId, key.createdAt],
      );
      if (Number(rows[0]!.live) >= limit) {
        await conn.rollback();
        return false;
      }
      await conn.execute(
        'INSERT INTO api_keys (key_id, tenant_id, name, scope, db_id, db_bound, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [key.keyId, key.tenantId, key.name, key.scope, key.dbId, key.dbBound ? 1 : 0, Buffer.from(hash), key.createdAt, key.expiresAt],
      );
      await conn.commit();
      return true;
    } catch (error) {
      await conn.rollback().catch(() => undefined);
      throw error;
    } finally {
      conn.release();
    }
  }

  async listApiKeys(tenantId: string, max: number): Promise<ApiKeyRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = ?
       ORDER BY (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(3))) DESC, created_at DESC, key_id LIMIT ?`,
      [tenantId, max],
    );
    return rows.map(toApiKey);
  }

  async revokeApiKey(tenantId: string, keyId: string, at: Date): Promise<boolean> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ? AND tenant_id = ?',
      [at, keyId, tenantId],
    );
    // affectedRows counts matched rows here only with CLIENT_FOUND_ROWS, which mysql2 sets by default.
    return result.affectedRows === 1;
  }

  async findApiKeyByHash(hash: Uint8Array): Promise<FoundApiKey | undefined> {
    // The tenant's suspension in the same primary-key read: a suspended tenant's keys are refused at once.
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT ${COLUMNS.replace(/(\w+)/g, 'k.$1')}, t.suspended_at FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id WHERE k.key_hash = ?`,
      [Buffer.from(hash)],
    );
    return rows[0] && { ...toApiKey(rows[0]), tenantSuspended: rows[0].suspended_at !== null };
  }

  async recordApiKeyUse(keyId: string, at: Date): Promise<void> {
    await this.pool.execute('UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)', [at, keyId, at]);
  }
}

function toApiKey(row: RowDataPacket): ApiKeyRecord {
  const date = (value: unknown) => (value === null ? null : new Date(value as Date));
  return {
    keyId: row.key_id,
    tenantId: row.tenant_id,
    name: row.name,
    scope: row.scope as ApiKeyScope,
    dbId: row.db_id,
    dbBound: Number(row.db_bound) === 1,
    createdAt: new Date(row.created_at),
    expiresAt: date(row.expires_at),
    lastUsedAt: date(row.last_used_at),
    revokedAt: date(row.revoked_at),
  };
}
