import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { QuotaSettings } from '#core/ports';

/** Per-tenant quotas an operator set, in MetaDB's tenant_quotas. */
export class MysqlQuotaSettings implements QuotaSettings {
  constructor(private readonly pool: Pool) {}

  async storageQuota(tenantId: string): Promise<number | undefined> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT storage_bytes FROM tenant_quotas WHERE tenant_id = ?', [tenantId]);
    return rows[0] ? Number(rows[0].storage_bytes) : undefined;
  }

  async setStorageQuota(tenantId: string, bytes: number | null): Promise<void> {
    if (bytes === null) {
      await this.pool.query('DELETE FROM tenant_quotas WHERE tenant_id = ?', [tenantId]);
      return;
    }
    await this.pool.query(
      'INSERT INTO tenant_quotas (tenant_id, storage_bytes) VALUES (?, ?) ON DUPLICATE KEY UPDATE storage_bytes = VALUES(storage_bytes)',
      [tenantId, bytes],
    );
  }
}
