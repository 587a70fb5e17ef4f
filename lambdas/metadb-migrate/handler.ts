import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { createPool } from 'mysql2/promise';
import { migrateMetaDb } from '#core/metadb';
import type { HostRecord } from '#core/ports';
import { sendCfnResponse } from '#adapters/cfn-response';
import { FileTemplateSource } from '#adapters/file-template-source';
import { MysqlMetaStore } from '#adapters/mysql-meta-store';
import { hostRunnerFor, resolveMysqlLogin } from '#adapters/wiring';
import { loadConfig } from '#shared/config';
import { logger } from '#shared/logger';

/** schemas/meta is bundled next to this file (lib/metadb-deployment.ts). */
const BUNDLE_DIR = dirname(fileURLToPath(import.meta.url));
const ATTEMPTS = 6;
const RETRY_DELAY_MS = 20_000;

/**
 * Custom resource run by `cdk deploy` after the MySQL host signalled its bootstrap: pushes the
 * MetaDB schema (schemas/meta) with Skeema on the host through SSM, then registers the host in
 * MetaDB, exactly as bin/local.ts does at local start. Delete leaves MetaDB alone.
 */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  const props = event.ResourceProperties as Record<string, string | undefined>;
  const host: HostRecord = {
    hostId: String(props.HostId),
    instanceId: String(props.InstanceId),
    endpoint: String(props.Endpoint),
    port: Number(props.Port ?? 3306),
  };
  const physicalResourceId = `metadb-${host.hostId}`;
  // Answer FAILED just before Lambda would time out, instead of leaving the stack waiting.
  const watchdog = setTimeout(
    () => void sendCfnResponse(event, { status: 'FAILED', physicalResourceId, reason: 'MetaDB deployment timed out' }),
    Math.max(1000, context.getRemainingTimeInMillis() - 10_000),
  );
  try {
    if (event.RequestType !== 'Delete') await deployMetaDb(host);
    await sendCfnResponse(event, { status: 'SUCCESS', physicalResourceId, data: { HostId: host.hostId } });
  } catch (error) {
    logger.error('MetaDB deployment failed', { error: error as Error });
    await sendCfnResponse(event, { status: 'FAILED', physicalResourceId, reason: (error as Error).message });
  } finally {
    clearTimeout(watchdog);
  }
}

async function deployMetaDb(host: HostRecord): Promise<void> {
  const config = loadConfig();
  const login = await resolveMysqlLogin(config);
  const runner = hostRunnerFor(config, login);
  const files = await new FileTemplateSource(BUNDLE_DIR).load('meta');
  if (!files || Object.keys(files).length === 0) throw new Error('schemas/meta is missing from the bundle');
  // The SSM agent may still be registering right after the host's first boot.
  for (let attempt = 1; ; attempt++) {
    try {
      await migrateMetaDb(runner, host, login.database, files, config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS);
      break;
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
      logger.warn('MetaDB push failed, retrying', { attempt, error: error as Error });
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
  const pool = createPool({ ...login, connectionLimit: 1 });
  try {
    await new MysqlMetaStore(pool).registerHost(host);
  } finally {
    await pool.end();
  }
  logger.info('MetaDB deployed', { host_id: host.hostId });
}
