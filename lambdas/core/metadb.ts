import { buildSchemaPushScript } from './host-scripts.ts';
import { tempSchemaName } from './ids.ts';
import type { HostRecord, HostRunner, SchemaFiles } from './ports.ts';

/**
 * Brings the MetaDB schema to the state of schemas/meta with `skeema push` on the host
 * (locally at start, by the deployment on AWS). Throws with Skeema's output when it fails.
 */
export async function migrateMetaDb(
  runner: HostRunner,
  host: HostRecord,
  schema: string,
  files: SchemaFiles,
  timeoutSeconds: number,
): Promise<void> {
  // An empty directory would make Skeema push nothing and report success.
  if (Object.keys(files).length === 0) throw new Error('MetaDB schema push: no table files (schemas/meta missing?)');
  const script = buildSchemaPushScript({ schema, files, tempSchema: tempSchemaName() });
  const result = await runner.run(host, script, timeoutSeconds);
  if (result.exitCode !== 0) {
    throw new Error(`MetaDB schema push failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  }
}
