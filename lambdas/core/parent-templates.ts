import { isDbId, databaseName } from './ids.ts';
import { SQL_IDENTIFIER } from './patterns.ts';
import type { HostSql, MetaStore, SchemaFiles, TemplateSource } from './ports.ts';

/**
 * Templates by name (schemas/templates) or by a parent's db_id: an admin's ready database whose
 * current table definitions become the child's starting schema (read when the child is provisioned).
 */
export class ParentAwareTemplates implements TemplateSource {
  constructor(
    private readonly named: TemplateSource,
    private readonly meta: MetaStore,
    private readonly hostSql: HostSql,
  ) {}

  async exists(name: string): Promise<boolean> {
    if (!isDbId(name)) return this.named.exists(name);
    return (await this.parentOf(name)) !== undefined;
  }

  async load(name: string): Promise<SchemaFiles | undefined> {
    if (!isDbId(name)) return this.named.load(name);
    const found = await this.parentOf(name);
    if (!found) return undefined;
    const { parent, host } = found;
    const database = databaseName(parent.dbId);
    const [tables] = (await this.hostSql.run(host, database, [
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
    ])) as Array<Array<{ t: string }>>;
    const files: SchemaFiles = {};
    for (const { t } of tables ?? []) {
      if (!SQL_IDENTIFIER.test(t)) continue; // only names a migration could have made
      const [rows] = (await this.hostSql.run(host, database, [`SHOW CREATE TABLE \`${t}\``])) as Array<Array<Record<string, string>>>;
      files[`${t}.sql`] = `${rows![0]!['Create Table']!.replace(/ AUTO_INCREMENT=\d+/, '')};\n`;
    }
    return files;
  }

  /** A ready database of an admin tenant, and its host: MetaDB reads only. */
  private async parentOf(dbId: string) {
    const parent = await this.meta.getDatabase(dbId);
    if (!parent || parent.status !== 'ready') return undefined;
    const owner = await this.meta.getTenant(parent.tenantId);
    const host = await this.meta.getHost(parent.hostId);
    if (!owner?.isAdmin || !host) return undefined;
    return { parent, host };
  }
}
