import type { SchemaFacts, SchemaInspector, TenantLogin, TenantSqlRunner } from '#core/ports';

/**
 * Table names, row estimates and size of a tenant database, from its own host's information_schema,
 * read with the tenant's own MySQL login: information_schema shows a user the tables it has
 * privileges on, which for a tenant user is its whole database, so no admin login is needed.
 */
export class MysqlSchemaInspector implements SchemaInspector {
  constructor(private readonly tenantSql: TenantSqlRunner) {}

  async describe(login: TenantLogin): Promise<SchemaFacts> {
    // The login's database is the session's default schema: DATABASE() keeps the name out of the SQL text.
    const where = `FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`;
    // Count and size in one row, so the listing's row cap and byte budget cannot shrink them.
    const total = await this.tenantSql.run(
      login,
      `SELECT COUNT(*) AS n, COALESCE(SUM(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0)), 0) AS size_bytes ${where}`,
      [],
    );
    const listing = await this.tenantSql.run(
      login,
      `SELECT TABLE_NAME AS name, COALESCE(TABLE_ROWS, 0) AS rows_estimate ${where} ORDER BY TABLE_NAME`,
      [],
    );
    return {
      sizeBytes: Number(total.rows[0]?.size_bytes ?? 0),
      tableCount: Number(total.rows[0]?.n ?? 0),
      tables: listing.rows.map((r) => ({ name: String(r.name), rowsEstimate: Number(r.rows_estimate) })),
      truncated: listing.truncated,
    };
  }
}
