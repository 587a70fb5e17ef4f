/**
 * Operator command: `npm run admin -- create --name N --email E --password P [--template T]`,
 * or `npm run admin -- set-limits --tenant ID|EMAIL --route query|migrate|dashboard --limit '500/s burst 1000'|default`.
 * Creates an admin tenant (is_admin) and provisions its database, which can then be a parent
 * (children sign up with `template` = its db_id). Locally it runs against OCTODB_MYSQL_URL; with
 * OCTODB_ADMIN_FUNCTION set (the stack's AdminFunctionName output) it invokes that function on AWS.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createAdmin } from '#core/admin';
import { setTenantLimit } from '#core/rate-limits';
import { ConflictError } from '#core/errors';
import { buildDeps } from '#adapters/wiring';
import { loadConfig } from '#shared/config';
import { setLimitsRequest, signupRequest } from '#shared/requests';
import { localSecrets } from './local.ts';

const usage = `usage: npm run admin -- create --name NAME --email EMAIL --password PASSWORD [--template default]
       npm run admin -- set-limits --tenant TENANT_ID|EMAIL --route query|migrate|dashboard --limit '500/s burst 1000'|default`;

/** Calls the deployed admin function synchronously and returns what it answered. */
export type InvokeAdmin = (functionName: string, payload: Record<string, unknown>) => Promise<Record<string, unknown>>;

const invokeOnAws: InvokeAdmin = async (functionName, payload) => {
  const out = await new LambdaClient({}).send(new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify(payload) }));
  const answer = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8') || '{}') as Record<string, unknown>;
  if (out.FunctionError) return { error: `${out.FunctionError}: ${String(answer.errorMessage ?? 'the admin function failed')}` };
  return answer;
};

export async function main(argv: string[], env = process.env, invoke: InvokeAdmin = invokeOnAws): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      template: { type: 'string' },
      tenant: { type: 'string' },
      route: { type: 'string' },
      limit: { type: 'string' },
    },
  });
  if (positionals[0] === 'set-limits') return setLimits({ action: 'set-limits', tenant: values.tenant, route: values.route, limit: values.limit }, env, invoke);
  if (positionals[0] !== 'create') {
    console.error(usage);
    return 2;
  }
  const parsed = signupRequest.safeParse({ ...values, template: values.template ?? 'default' });
  if (!parsed.success) {
    console.error(`${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')}\n${usage}`);
    return 2;
  }
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
  const deps = await buildDeps(config);
  try {
    const result = await createAdmin(parsed.data, {
      ...deps,
      bcryptRounds: config.OCTODB_BCRYPT_ROUNDS,
      scriptTimeoutSeconds: config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
    });
    console.log(JSON.stringify(result));
    return result.status === 'ready' ? 0 : 1;
  } catch (error) {
    if (error instanceof ConflictError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    await deps.close();
  }
}

/** A tenant's own rate limit on one route: through the admin function on AWS, else on OCTODB_MYSQL_URL's MetaDB. */
async function setLimits(request: Record<string, unknown>, env: NodeJS.ProcessEnv, invoke: InvokeAdmin): Promise<number> {
  const parsed = setLimitsRequest.safeParse(request);
  if (!parsed.success) {
    console.error(`${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')}\n${usage}`);
    return 2;
  }
  let answer: Record<string, unknown>;
  if (env.OCTODB_ADMIN_FUNCTION) {
    answer = await invoke(env.OCTODB_ADMIN_FUNCTION, request);
  } else {
    const deps = await buildDeps(loadConfig({ ...localSecrets(), ...env }));
    try {
      answer = await setTenantLimit(parsed.data, deps).catch((error: Error) => ({ error: error.message }));
    } finally {
      await deps.close();
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
