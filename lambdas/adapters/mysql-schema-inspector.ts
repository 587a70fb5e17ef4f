import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { HostRecord, SchemaInspector, TableInfo } from '#core/ports';

/**
 * Table names, row estimates and size of a tenant database from information_schema. It reads
 * through the MetaDB pool: today every tenant database lives on the MetaDB's MySQL server (one
 * host); with several hosts this needs a pool per host.
 */
export class MysqlSchemaInspector implements SchemaInspector {
  constructor(private readonly pool: Pool) {}

  async describe(_host: HostRecord, database: string): Promise<{ sizeBytes: number; tables: TableInfo[] }> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT TABLE_NAME AS name, COALESCE(TABLE_ROWS, 0) AS rows_estimate,
              COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS size_bytes
       FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'
       ORDER BY TABLE_NAME`,
      [database],
    );
    return {
      sizeBytes: rows.reduce((sum, r) => sum + Number(r.size_bytes), 0),
      tables: rows.map((r) => ({ name: String(r.name), rowsEstimate: Number(r.rows_estimate) })),
    };
  }
}
