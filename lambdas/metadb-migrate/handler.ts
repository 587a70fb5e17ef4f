import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { deployMetaDb } from '#core/metadb';
import { OPAQUE_ID } from '#core/patterns';
import type { HostRecord } from '#core/ports';
import { FileTemplateSource } from '#adapters/file-template-source';
import { Parts } from '#adapters/parts';
import { metaDbRoot } from '#adapters/roots';
import { loadConfig } from '#shared/config';
import { invocationHandler, type RequestLog } from '#shared/logger';

/** schemas/meta is bundled next to this file as meta/ (lib/metadb-deployment.ts); run from source, the repository's. */
const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEMA_ROOT = existsSync(join(HERE, 'meta')) ? HERE : join(HERE, '..', '..', 'schemas');
const INSTANCE_ID = /^(i-[0-9a-f]{8,17}|local)$/;
const ENDPOINT = /^[A-Za-z0-9.-]{1,255}$/;
/** The SSM agent may still be registering right after the host's first boot: 6 tries, 20 s apart. */
const PUSH_TRIES = { attempts: 6, delayMs: 20_000 };

/**
 * The onEvent handler of the MetaDB custom resource (CDK's Provider framework, lib/metadb-deployment.ts),
 * run by `cdk deploy` after the MySQL host signalled its bootstrap: deploys MetaDB on the host
 * (#core/metadb, as bin/local.ts does at local start). Returns the physical id, or throws: the
 * framework answers CloudFormation SUCCESS or FAILED with the error's message. Delete leaves MetaDB
 * and the API account alone.
 */
export const handler = invocationHandler(onEvent);

async function onEvent(event: CloudFormationCustomResourceEvent, log: RequestLog, context?: Context): Promise<{ PhysicalResourceId: string }> {
  if (!context) throw new Error('the MetaDB deployment runs as a Lambda function, with its context');
  const props = event.ResourceProperties as Record<string, unknown>;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const host = hostFrom(props);
  const config = loadConfig();
  // No push starts that could not finish (with the account and host steps) before this function times out.
  const deadline = Date.now() + context.getRemainingTimeInMillis() - (config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS + 30) * 1000;
  // Parts of this invocation only: a deploy may come with a rotated API secret, read afresh each time.
  const parts = new Parts(config);
  try {
    const deps = await metaDbRoot((await new FileTemplateSource(SCHEMA_ROOT).load('meta')) ?? {}, parts);
    await deployMetaDb(host, { ...deps, pushTries: { ...PUSH_TRIES, deadline, onFailure: (attempt, error) => log.warn('MetaDB push failed', { attempt, error }) } });
  } catch (error) {
    log.error('MetaDB deployment failed', { error: error as Error });
    throw error;
  } finally {
    await parts.close();
  }
  log.info('MetaDB deployed', { host_id: host.hostId });
  return { PhysicalResourceId: event.RequestType === 'Create' ? `metadb-${host.hostId}` : event.PhysicalResourceId };
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
  return { hostId: field('HostId', OPAQUE_ID), instanceId: field('InstanceId', INSTANCE_ID), endpoint: field('Endpoint', ENDPOINT), port };
}
