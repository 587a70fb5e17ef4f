import { buildSchemaPushScript } from './host-scripts.ts';
import { tempSchemaName } from './ids.ts';
import type { HostRecord, HostRunner, SchemaFiles } from './ports.ts';
import { retry, type Sleep } from './retry.ts';

/** Where MetaDB records its MySQL hosts. */
export interface HostRegistry {
  registerHost(host: HostRecord): Promise<void>;
}

export interface MetaDbDeploymentDeps {
  runner: HostRunner;
  /** MetaDB as the API account: written only once that account exists. */
  hosts: HostRegistry;
  /**
   * Creates the API account, or brings its password in step and grants what it lacks, as the admin
   * account. Absent where MetaDB is reached as the admin account itself (a local set-up with one login).
   */
  ensureApiAccount?: () => Promise<void>;
  /** MetaDB's schema name, and schemas/meta's table files. */
  schema: string;
  files: SchemaFiles;
  scriptTimeoutSeconds: number;
  /**
   * Tries of the schema push (default: one). Right after a host's first boot its SSM agent may
   * still be registering, so the deployment on AWS tries again a few times; no try starts after
   * `deadline` (epoch ms).
   */
  pushTries?: { attempts: number; delayMs: number; deadline?: number; sleep?: Sleep; onFailure?: (attempt: number, error: Error) => void };
}

/**
 * Deploys MetaDB on a host: at every local start (bin/local.ts) and on every deploy that changes
 * schemas/meta, the host or the API secret (the custom resource, lambdas/metadb-migrate).
 * Primary course: push schemas/meta with Skeema on the host, create the API account (or bring it
 * in step), register the host in MetaDB. Idempotent; throws when a step fails.
 */
export async function deployMetaDb(host: HostRecord, deps: MetaDbDeploymentDeps): Promise<void> {
  // An empty directory would make Skeema push nothing and report success.
  if (Object.keys(deps.files).length === 0) throw new Error('MetaDB schema push: no table files (schemas/meta missing?)');
  const tries = deps.pushTries ?? { attempts: 1, delayMs: 0 };
  const { value: failure } = await retry(
    (attempt) =>
      pushMetaSchema(host, deps).then(
        () => undefined,
        (error: Error) => {
          tries.onFailure?.(attempt, error);
          return error;
        },
      ),
    { retryIf: (error) => error !== undefined, maxAttempts: tries.attempts, delayMs: () => tries.delayMs, deadline: tries.deadline, sleep: tries.sleep },
  );
  if (failure) throw failure;
  await deps.ensureApiAccount?.();
  await deps.hosts.registerHost(host);
}

/** Brings the MetaDB schema to the state of schemas/meta with `skeema push`; throws with Skeema's output when it fails. */
async function pushMetaSchema(host: HostRecord, deps: MetaDbDeploymentDeps): Promise<void> {
  const script = buildSchemaPushScript({ schema: deps.schema, files: deps.files, tempSchema: tempSchemaName() });
  const result = await deps.runner.run(host, script, deps.scriptTimeoutSeconds);
  if (result.exitCode !== 0) {
    throw new Error(`MetaDB schema push failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  }
}
