import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { createPool } from 'mysql2/promise';
import { migrateMetaDb } from '#core/metadb';
import type { HostRecord } from '#core/ports';
import { sendCfnResponse } from '#adapters/cfn-response';
import { FileTemplateSource } from '#adapters/file-template-source';
import { MysqlMetaStore } from '#adapters/mysql-meta-store';
import { ensureApiAccount } from '#adapters/mysql-api-account';
import { hostRunnerFor, resolveApiLogin, resolveMysqlLogin } from '#adapters/wiring';
import { loadConfig } from '#shared/config';
import { logger } from '#shared/logger';

/** schemas/meta is bundled next to this file as meta/ (lib/metadb-deployment.ts); run from source, the repository's. */
const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEMA_ROOT = existsSync(join(HERE, 'meta')) ? HERE : join(HERE, '..', '..', 'schemas');
const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const INSTANCE_ID = /^(i-[0-9a-f]{8,17}|local)$/;
const ENDPOINT = /^[A-Za-z0-9.-]{1,255}$/;
const ATTEMPTS = 6;
const RETRY_DELAY_MS = 20_000;

/**
 * Custom resource run by `cdk deploy` after the MySQL host signalled its bootstrap: pushes the
 * MetaDB schema (schemas/meta) with Skeema on the host through SSM, creates the API account (or
 * sets its password from its secret and grants what it lacks), then registers the host in MetaDB,
 * exactly as bin/local.ts does at local start. Delete leaves MetaDB and the account alone.
 */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  const props = event.ResourceProperties as Record<string, unknown>;
  const physicalResourceId =
    event.RequestType === 'Create' ? `metadb-${typeof props.HostId === 'string' ? props.HostId : 'invalid'}` : event.PhysicalResourceId;
  // Answer FAILED just before Lambda would time out, instead of leaving the stack waiting.
  const watchdog = setTimeout(
    () =>
      sendCfnResponse(event, { status: 'FAILED', physicalResourceId, reason: 'MetaDB deployment timed out' }).catch((error) =>
        logger.error('could not answer CloudFormation', { error: error as Error }),
      ),
    Math.max(1000, context.getRemainingTimeInMillis() - 10_000),
  );
  try {
    if (event.RequestType !== 'Delete') await deployMetaDb(hostFrom(props));
    await sendCfnResponse(event, { status: 'SUCCESS', physicalResourceId });
  } catch (error) {
    logger.error('MetaDB deployment failed', { error: error as Error });
    await sendCfnResponse(event, { status: 'FAILED', physicalResourceId, reason: (error as Error).message });
  } finally {
    clearTimeout(watchdog);
  }
}

/** The resource's properties, checked: they end up in a host script's target and in MetaDB. */
function hostFrom(props: Record<string, unknown>): HostRecord {
  const field = (name: string, pattern: RegExp): string => {
    const value = props[name];
    if (typeof value !== 'string' || !pattern.test(value)) throw new Error(`invalid or missing ${name}: ${JSON.stringify(value)}`);
    return value;
  };
  const port = Number(props.Port ?? 3306);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid Port: ${JSON.stringify(props.Port)}`);
  return { hostId: field('HostId', HOST_ID), instanceId: field('InstanceId', INSTANCE_ID), endpoint: field('Endpoint', ENDPOINT), port };
}

async function deployMetaDb(host: HostRecord): Promise<void> {
  const config = loadConfig();
  const login = await resolveMysqlLogin(config);
  const runner = hostRunnerFor(config, login);
  const files = await new FileTemplateSource(SCHEMA_ROOT).load('meta');
  if (!files) throw new Error('schemas/meta is missing from the bundle');
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
  // Over a direct admin connection, not a host script: the API password never enters SSM's command history.
  await ensureApiAccount(login, await resolveApiLogin(config));
  const pool = createPool({ ...login, connectionLimit: 1 });
  try {
    await new MysqlMetaStore(pool).registerHost(host);
  } finally {
    await pool.end();
  }
  logger.info('MetaDB deployed', { host_id: host.hostId });
}
