import bcrypt from 'bcryptjs';
import { ConflictError, UnavailableError, ValidationError } from './errors.ts';
import { databaseUser, newDbId, newTenantId } from './ids.ts';
import type { Invoker, MetaStore, TemplateSource } from './ports.ts';

export interface SignUpDeps {
  meta: MetaStore;
  invoker: Invoker;
  templates: TemplateSource;
  bcryptRounds: number;
}

export interface SignUpInput {
  name: string;
  email: string;
  password: string;
  template: string;
}

export interface SignUpResult {
  tenant_id: string;
  db_id: string;
  status: 'provisioning';
}

/**
 * Registers a tenant and starts provisioning its database.
 * Primary course: hash the password, record tenant + database (`provisioning`) in MetaDB,
 * invoke LF6 asynchronously. A taken email is a 409, except the owner retrying a failed database.
 */
export async function signUpTenant(input: SignUpInput, deps: SignUpDeps): Promise<SignUpResult> {
  if (!(await deps.templates.exists(input.template))) {
    throw new ValidationError(`Unknown template: ${input.template}`);
  }
  const passwordHash = await bcrypt.hash(input.password, deps.bcryptRounds);
  const tenantId = newTenantId();
  const dbId = newDbId();
  const host = await deps.meta.pickHost();
  try {
    await deps.meta.createTenant(
      { tenantId, name: input.name, email: input.email, passwordHash, isAdmin: false },
      { dbId, hostId: host.hostId, template: input.template, mysqlUser: databaseUser(dbId) },
    );
  } catch (error) {
    if (error instanceof ConflictError) return retryFailedSignup(input, deps);
    throw error;
  }
  return startProvisioning(tenantId, dbId, deps);
}

/** The owner of a failed database may sign up again to retry its provisioning. */
async function retryFailedSignup(input: SignUpInput, deps: SignUpDeps): Promise<SignUpResult> {
  const taken = new ConflictError('An account with this email already exists');
  const tenant = await deps.meta.findTenantByEmail(input.email);
  if (!tenant || !(await bcrypt.compare(input.password, tenant.passwordHash))) throw taken;
  const [first] = await deps.meta.listDatabases(tenant.tenantId);
  if (!first || !(await deps.meta.resetFailedDatabase(first.dbId))) throw taken;
  return startProvisioning(tenant.tenantId, first.dbId, deps);
}

async function startProvisioning(tenantId: string, dbId: string, deps: SignUpDeps): Promise<SignUpResult> {
  try {
    await deps.invoker.invokeAsync('provision', { db_id: dbId });
  } catch {
    await deps.meta.finishProvisioning(dbId, 'failed', 'could not start provisioning; sign up again to retry');
    throw new UnavailableError('Provisioning could not be started; sign up again with the same credentials to retry');
  }
  return { tenant_id: tenantId, db_id: dbId, status: 'provisioning' };
}
