/**
 * Operator command: `npm run admin -- create --name N --email E --password P [--template T]`,
 * `npm run admin -- set-quota --tenant TENANT_ID --bytes N|default` (a tenant's storage quota) or
 * `npm run admin -- set-limits --tenant ID|EMAIL --route query|migrate|dashboard --limit '500/s burst 1000'|default`,
 * `npm run admin -- delete-tenant|suspend-tenant|resume-tenant --tenant ID|EMAIL`.
 * Creates an admin tenant (is_admin) and provisions its database, which can then be a parent
 * (children sign up with `template` = its db_id). Locally it runs against OCTODB_MYSQL_URL; with
 * OCTODB_ADMIN_FUNCTION set (the stack's AdminFunctionName output) it invokes that function on AWS.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createAdmin } from '#core/admin';
import { setTenantLimit } from '#core/rate-limits';
import { ConflictError, OctoError } from '#core/errors';
import type { LogEraser } from '#core/offboarding-ports';
import { HandoffLogSink } from '#adapters/handoff-log-sink';
import { Parts } from '#adapters/parts';
import { adminRoot, type AdminRoot } from '#adapters/roots';
import { loadConfig } from '#shared/config';
import { issuesOf, setLimitsRequest, setQuotaRequest, signupRequest, tenantLifecycleRequest } from '#shared/requests';
import type { ZodError } from 'zod';
import { setQuota } from '../lambdas/admin/set-quota.ts';
import { isTenantLifecycle, tenantLifecycle } from '../lambdas/admin/tenant-lifecycle.ts';
import { localSecrets } from './local.ts';

const usage = `usage: npm run admin -- create --name NAME --email EMAIL --password PASSWORD [--template default]
       npm run admin -- set-quota --tenant TENANT_ID --bytes BYTES|default
       npm run admin -- set-limits --tenant TENANT_ID|EMAIL --route query|migrate|dashboard --limit '500/s burst 1000'|default
       npm run admin -- delete-tenant|suspend-tenant|resume-tenant --tenant TENANT_ID|EMAIL

create: an admin tenant and its database; prints {"tenant_id","db_id","status"} as JSON.
set-quota: a tenant's storage quota in bytes (default: back to OCTODB_STORAGE_QUOTA_BYTES).
set-limits: a tenant's rate limit on one route (default: back to the OCTODB_RATE_* setting).
delete-tenant: erases the tenant (databases and users, MetaDB rows, logs, tokens, keys); prints the
  erasure record. Run it again to finish one a crash interrupted; an erased tenant's id prints its record.
suspend-tenant / resume-tenant: refuse every request of the tenant (403 TENANT_SUSPENDED), or serve it again.
With OCTODB_ADMIN_FUNCTION set it invokes that deployed function; else it runs on this machine.`;
const ROOT = join(fileURLToPath(import.meta.url), '..', '..');

/** Calls the deployed admin function synchronously and returns what it answered. */
export type InvokeAdmin = (functionName: string, payload: Record<string, unknown>) => Promise<Record<string, unknown>>;

const invokeOnAws: InvokeAdmin = async (functionName, payload) => {
  const out = await new LambdaClient({}).send(new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify(payload) }));
  const answer = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8') || '{}') as Record<string, unknown>;
  if (out.FunctionError) return { error: `${out.FunctionError}: ${String(answer.errorMessage ?? 'the admin function failed')}` };
  return answer;
};

export async function main(argv: string[], env = process.env, invoke: InvokeAdmin = invokeOnAws): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        email: { type: 'string' },
        password: { type: 'string' },
        template: { type: 'string' },
        tenant: { type: 'string' },
        bytes: { type: 'string' },
        route: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}
${usage}`);
    return 2;
  }
  const { positionals, values } = args;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals[0] === 'set-quota') {
    const bytes = values.bytes === 'default' ? null : /^[0-9]+$/.test(values.bytes ?? '') ? Number(values.bytes) : Number.NaN;
    const parsed = setQuotaRequest.safeParse({ action: 'set-quota', tenant_id: values.tenant, bytes });
    return parsed.success ? operatorAction(parsed.data, async (admin) => setQuota(parsed.data, await admin.setQuota()), env, invoke) : badInput(parsed.error);
  }
  if (positionals[0] === 'set-limits') {
    const request = { action: 'set-limits', tenant: values.tenant, route: values.route, limit: values.limit };
    const parsed = setLimitsRequest.safeParse(request);
    return parsed.success ? operatorAction(request, async (admin) => setTenantLimit(parsed.data, await admin.setLimits()), env, invoke) : badInput(parsed.error);
  }
  if (isTenantLifecycle({ action: positionals[0] })) {
    const request = { action: positionals[0], tenant: values.tenant };
    const parsed = tenantLifecycleRequest.safeParse(request);
    return parsed.success ? operatorAction(request, (admin) => tenantLifecycle(parsed.data, admin), env, invoke) : badInput(parsed.error);
  }
  if (positionals[0] !== 'create' || positionals.length !== 1) {
    console.error(usage);
    return 2;
  }
  const { name, email, password, template } = values;
  const parsed = signupRequest.safeParse({ name, email, password, template: template ?? 'default' });
  if (!parsed.success) return badInput(parsed.error);
  if (env.OCTODB_ADMIN_FUNCTION) {
    const answer = await invoke(env.OCTODB_ADMIN_FUNCTION, parsed.data);
    if (answer.error) {
      console.error(String(answer.error));
      return 1;
    }
    console.log(JSON.stringify(answer));
    return answer.status === 'ready' ? 0 : 1;
  }
  const config = loadConfig({ ...localSecrets(), ...env });
  // Stdout carries the JSON answer alone; the provisioning records go where `npm start` stores them.
  const parts = new Parts(config, { logs: new HandoffLogSink(resolve(ROOT, config.OCTODB_LOG_DEAD_LETTER_FILE)) });
  try {
    const result = await createAdmin(parsed.data, await adminRoot(parts).create());
    console.log(JSON.stringify(result));
    return result.status === 'ready' ? 0 : 1;
  } catch (error) {
    if (error instanceof ConflictError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    await parts.close();
  }
}

/**
 * Here the log table lives inside `npm start` (embedded dynalite, one process per directory): an
 * erasure run from this command does everything else, stays `running`, and npm start's sweep (at
 * start and every OCTODB_PROVISION_SWEEP_SECONDS) deletes the log items and finishes it.
 */
const logsAtNpmStart: LogEraser = {
  deletePage: () => Promise.reject(new Error('the log table is served by npm start here: its sweep deletes the log items and finishes the erasure')),
};

function badInput(error: ZodError): number {
  console.error(`${issuesOf(error, '\n')}\n${usage}`);
  return 2;
}

/** A validated operator setting: through the admin function on AWS, else on OCTODB_MYSQL_URL's MetaDB. */
async function operatorAction(
  request: Record<string, unknown>,
  runLocally: (admin: AdminRoot) => Promise<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
  invoke: InvokeAdmin,
): Promise<number> {
  let answer: Record<string, unknown>;
  if (env.OCTODB_ADMIN_FUNCTION) answer = await invoke(env.OCTODB_ADMIN_FUNCTION, request);
  else {
    const config = loadConfig({ ...localSecrets(), ...env });
    const parts = new Parts(config, config.OCTODB_DYNAMODB_ENDPOINT ? {} : { logEraser: logsAtNpmStart });
    try {
      answer = await runLocally(adminRoot(parts));
    } catch (error) {
      if (!(error instanceof OctoError)) throw error;
      answer = { error: error.message };
    } finally {
      await parts.close();
    }
  }
  if (answer.error) {
    console.error(String(answer.error));
    return 1;
  }
  console.log(JSON.stringify(answer));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
