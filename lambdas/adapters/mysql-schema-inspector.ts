import type { RowDataPacket } from 'mysql2/promise';
import type { HostRecord, HostSql, SchemaInspector, TableInfo } from '#core/ports';

/** Table names, row estimates and size of a tenant database, from its own host's information_schema. */
export class MysqlSchemaInspector implements SchemaInspector {
  constructor(private readonly hostSql: HostSql) {}

  async describe(host: HostRecord, database: string): Promise<{ sizeBytes: number; tables: TableInfo[] }> {
    // hostSql makes `database` the default schema; DATABASE() keeps the name out of the SQL text.
    const [rows] = (await this.hostSql.run(host, database, [
      `SELECT TABLE_NAME AS name, COALESCE(TABLE_ROWS, 0) AS rows_estimate,
              COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS size_bytes
       FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'
       ORDER BY TABLE_NAME`,
    ])) as [RowDataPacket[]];
    return {
      sizeBytes: rows.reduce((sum, r) => sum + Number(r.size_bytes), 0),
      tables: rows.map((r) => ({ name: String(r.name), rowsEstimate: Number(r.rows_estimate) })),
    };
  }
}
