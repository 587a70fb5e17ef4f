import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { ConflictError, UnauthorizedError, UnavailableError, ValidationError } from './errors.ts';
import { databaseUser, newDbId, newTenantId } from './ids.ts';
import type { Invoker, MetaStore, Notifier, PasswordHasher, TemplateSource } from './ports.ts';

export interface SignUpDeps {
  meta: MetaStore;
  invoker: Invoker;
  templates: TemplateSource;
  passwords: PasswordHasher;
  notifier: Notifier;
  bcryptRounds: number;
  /** OCTODB_HOST_MAX_DATABASES: databases a host holds at most. */
  hostMaxDatabases: number;
  /** Set when signups must verify their email before anything is provisioned. */
  verification?: { ttlSeconds: number; maxAttempts: number };
}

/** What /verify needs: MetaDB, the host cap and LF6 (no template, hash or email). */
export type VerifyDeps = Pick<SignUpDeps, 'meta' | 'invoker' | 'hostMaxDatabases' | 'verification'>;

export interface SignUpInput {
  name: string;
  email: string;
  password: string;
  template: string;
}

export interface SignUpResult {
  tenant_id: string;
  db_id: string;
  status: 'provisioning' | 'unverified';
}

/**
 * Registers a tenant and starts provisioning its database.
 * Primary course: hash the password, record tenant + database (`provisioning`) in MetaDB within
 * the host's capacity, invoke LF6 asynchronously. With verification on, the database waits as
 * `unverified` and a code is emailed instead (POST /verify provisions it). A taken email is a
 * 409, except the owner retrying a failed database or asking for a new code.
 */
export async function signUpTenant(input: SignUpInput, deps: SignUpDeps): Promise<SignUpResult> {
  if (!(await deps.templates.exists(input.template))) {
    throw new ValidationError(`Unknown template: ${input.template}`);
  }
  const passwordHash = await deps.passwords.hash(input.password, deps.bcryptRounds);
  const tenantId = newTenantId();
  const dbId = newDbId();
  const host = await deps.meta.pickHost();
  const code = deps.verification && newCode(dbId, deps.verification.ttlSeconds);
  try {
    await deps.meta.createTenant(
      { tenantId, name: input.name, email: input.email, passwordHash, isAdmin: false },
      { dbId, hostId: host.hostId, template: input.template, mysqlUser: databaseUser(dbId) },
      { status: code ? 'unverified' : 'provisioning', hostCap: deps.hostMaxDatabases, verification: code?.stored },
    );
  } catch (error) {
    if (error instanceof ConflictError) return retryExistingSignup(input, deps);
    throw error;
  }
  if (code) return sendCode(input.email, { tenant_id: tenantId, db_id: dbId, status: 'unverified' }, code.plain, deps);
  return startProvisioning(tenantId, dbId, deps);
}

/** The owner of a failed database may sign up again to retry its provisioning, or of an unverified one for a new code. */
async function retryExistingSignup(input: SignUpInput, deps: SignUpDeps): Promise<SignUpResult> {
  const taken = new ConflictError('An account with this email already exists');
  const tenant = await deps.meta.findTenantByEmail(input.email);
  if (!tenant || !(await deps.passwords.verify(input.password, tenant.passwordHash))) throw taken;
  const [first] = await deps.meta.listDatabases(tenant.tenantId);
  if (first?.status === 'unverified') {
    if (deps.verification) {
      const code = newCode(first.dbId, deps.verification.ttlSeconds);
      await deps.meta.saveVerificationCode(first.dbId, code.stored);
      return sendCode(input.email, { tenant_id: tenant.tenantId, db_id: first.dbId, status: 'unverified' }, code.plain, deps);
    }
    // Verification was switched off since: the owner's signup provisions it as any signup would.
    if (await deps.meta.activateUnverified(first.dbId, deps.hostMaxDatabases)) return startProvisioning(tenant.tenantId, first.dbId, deps);
  }
  if (!first || !(await deps.meta.resetFailedDatabase(first.dbId, deps.hostMaxDatabases))) throw taken;
  return startProvisioning(tenant.tenantId, first.dbId, deps);
}

async function startProvisioning(tenantId: string, dbId: string, deps: Pick<SignUpDeps, 'meta' | 'invoker'>): Promise<SignUpResult> {
  try {
    await deps.invoker.invokeAsync('provision', { db_id: dbId });
  } catch (error) {
    await deps.meta.failProvisioning(dbId, 'could not start provisioning; sign up again to retry');
    throw new UnavailableError('Provisioning could not be started; sign up again with the same credentials to retry', undefined, { cause: error });
  }
  return { tenant_id: tenantId, db_id: dbId, status: 'provisioning' };
}

// --- email verification ---

const CODE_DIGITS = 8;
const REFUSALS = { none: 'INVALID_CODE', expired: 'CODE_EXPIRED', exhausted: 'TOO_MANY_ATTEMPTS' } as const;
const INVALID_CODE = 'Invalid or expired code';

/** The code only its email learns; MetaDB keeps its hash, salted with the db_id. */
function newCode(dbId: string, ttlSeconds: number) {
  const plain = String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
  return { plain, stored: { codeHash: codeHash(dbId, plain), expiresAt: new Date(Date.now() + ttlSeconds * 1000) } };
}

const codeHash = (dbId: string, code: string): string => createHash('sha256').update(`${dbId}:${code}`).digest('hex');

async function sendCode(to: string, result: SignUpResult, code: string, deps: SignUpDeps): Promise<SignUpResult> {
  const minutes = Math.round((deps.verification?.ttlSeconds ?? 0) / 60);
  try {
    await deps.notifier.send({
      to,
      subject: 'Your OctoDB verification code',
      text: `Your OctoDB verification code is ${code}. It works once, for ${minutes} minutes: POST /verify {"email", "code"}.\nIf you did not sign up, ignore this email.`,
    });
  } catch (error) {
    throw new UnavailableError('The verification email could not be sent; sign up again with the same credentials for a new code', undefined, {
      cause: error,
    });
  }
  return result;
}

/**
 * POST /verify: a signup's emailed code starts its database's provisioning.
 * Primary course: find the account's unverified database, spend one attempt at its code, compare
 * the hashes, move it to `provisioning` within the host's capacity (the code is gone with it), invoke LF6.
 * Any failure is a 401 that says no more than a typed `code` (unknown emails look like wrong codes).
 */
export async function verifySignup(input: { email: string; code: string }, deps: VerifyDeps): Promise<SignUpResult> {
  const refuse = (code: 'INVALID_CODE' | 'CODE_EXPIRED' | 'TOO_MANY_ATTEMPTS') => new UnauthorizedError(INVALID_CODE, { code });
  const tenant = await deps.meta.findTenantByEmail(input.email);
  const [db] = tenant ? await deps.meta.listDatabases(tenant.tenantId) : [];
  if (!tenant || !db || db.status !== 'unverified' || !deps.verification) throw refuse('INVALID_CODE');
  const attempt = await deps.meta.spendVerificationAttempt(db.dbId, deps.verification.maxAttempts);
  if (attempt.state !== 'open') throw refuse(REFUSALS[attempt.state]);
  const given = Buffer.from(codeHash(db.dbId, input.code), 'hex');
  if (!timingSafeEqual(given, Buffer.from(attempt.codeHash, 'hex'))) throw refuse('INVALID_CODE');
  if (!(await deps.meta.activateUnverified(db.dbId, deps.hostMaxDatabases))) throw refuse('INVALID_CODE');
  return startProvisioning(tenant.tenantId, db.dbId, deps);
}
