import type { StorageMeter, TenantLogin, TenantSqlRunner } from '#core/ports';

/** Tables refreshed by one ANALYZE statement (its answer has a row per table, under the row cap). */
const ANALYZE_CHUNK = 100;
/** Seconds added to "changed since the last measurement": clocks and UPDATE_TIME's one-second grain. */
const MARGIN_SECONDS = 2;
const quoteName = (name: string): string => `\`${name.replace(/`/g, '``')}\``;
/** OctoDB's own statements, not the tenant's: the tenant's busy connections must not keep them out (RunOptions). */
const UPKEEP = { writes: false, upkeep: true };

/**
 * Bytes a tenant database holds: ANALYZE TABLE, then data + index length from information_schema,
 * with the tenant's own login (ANALYZE needs SELECT and INSERT, which it has; no API function on AWS
 * holds an admin login). Without ANALYZE those lengths are InnoDB's last statistics (seconds to
 * days old: MySQL 8 caches them for information_schema_stats_expiry); after it they are the pages
 * the tables' indexes hold now, which shrink once deleted rows are purged. File sizes
 * (INNODB_TABLESPACES) never shrink without a rebuild, and need PROCESS.
 *
 * ANALYZE costs a few ms a table (it writes the persistent statistics), so only tables changed since
 * the last measurement are refreshed where the server tells which (MariaDB keeps UPDATE_TIME live;
 * MySQL 8 serves it from the same day-long cache, so there every table is refreshed).
 */
export class MysqlStorageMeter implements StorageMeter {
  constructor(private readonly tenantSql: TenantSqlRunner) {}

  async measure(login: TenantLogin, sinceMs?: number): Promise<number> {
    const where = `FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`;
    const changed =
      sinceMs === undefined
        ? '1'
        : `(@@version NOT LIKE '%MariaDB%' OR UPDATE_TIME >= NOW() - INTERVAL ${Math.ceil(sinceMs / 1000) + MARGIN_SECONDS} SECOND)`;
    // The listing stops at the query path's row cap: a database with more tables has the rest
    // counted from InnoDB's own background statistics.
    const tables = await this.tenantSql.run(login, `SELECT TABLE_NAME AS name ${where} AND ${changed} ORDER BY TABLE_NAME`, [], UPKEEP);
    const names = tables.rows.map((r) => quoteName(String(r.name)));
    for (let i = 0; i < names.length; i += ANALYZE_CHUNK) {
      // NO_WRITE_TO_BINLOG: a measurement is no change a replica needs.
      await this.tenantSql.run(login, `ANALYZE NO_WRITE_TO_BINLOG TABLE ${names.slice(i, i + ANALYZE_CHUNK).join(', ')}`, [], UPKEEP);
    }
    const total = await this.tenantSql.run(login, `SELECT COALESCE(SUM(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0)), 0) AS used ${where}`, [], UPKEEP);
    return Number(total.rows[0]?.used ?? 0);
  }
}
