import type { SchemaInspector, TableInfo, TenantLogin, TenantSqlRunner } from '#core/ports';

/**
 * Table names, row estimates and size of a tenant database, from its own host's information_schema,
 * read with the tenant's own MySQL login: information_schema shows a user the tables it has
 * privileges on, which for a tenant user is its whole database, so no admin login is needed.
 */
export class MysqlSchemaInspector implements SchemaInspector {
  constructor(private readonly tenantSql: TenantSqlRunner) {}

  async describe(login: TenantLogin): Promise<{ sizeBytes: number; tables: TableInfo[] }> {
    // The login's database is the session's default schema: DATABASE() keeps the name out of the SQL text.
    const { rows } = await this.tenantSql.run(
      login,
      `SELECT TABLE_NAME AS name, COALESCE(TABLE_ROWS, 0) AS rows_estimate,
              COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS size_bytes
       FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'
       ORDER BY TABLE_NAME`,
      [],
    );
    return {
      sizeBytes: rows.reduce((sum, r) => sum + Number(r.size_bytes), 0),
      tables: rows.map((r) => ({ name: String(r.name), rowsEstimate: Number(r.rows_estimate) })),
    };
  }
}
