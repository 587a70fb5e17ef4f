import { randomUUID } from 'node:crypto';
import { NotFoundError, ProhibitedError, tenantSuspended, UnauthorizedError } from './errors.ts';
import { signHs256, verifyHs256 } from './hs256.ts';
import { type MetaStore, type PasswordHasher, SUSPENDED, type TokenRegistry } from './ports.ts';
import type { Sealer } from './sealed.ts';

export interface TokenDeps {
  meta: MetaStore;
  registry: TokenRegistry;
  sealer: Sealer;
  /** bcrypt off the request thread (a worker pool) where other requests share it. */
  passwords: PasswordHasher;
  jwtSecret: string;
  ttlSeconds: number;
  /** OCTODB_BCRYPT_ROUNDS: the cost signup hashes passwords with. */
  bcryptRounds: number;
}

/** What verifying a token needs (the authorizer holds no data key and hashes no password). */
export type VerifyTokenDeps = Pick<TokenDeps, 'meta' | 'registry' | 'jwtSecret'>;

export interface AccessClaims {
  tenant_id: string;
  db_id: string;
  is_admin: boolean;
  jti: string;
}

export interface IssuedToken {
  token: string;
  expires_at: string;
}

const dummyHashes = new Map<number, Promise<string>>();

/**
 * What the password is compared against when the email is unknown, hashed once per process at
 * the configured cost: a fixed cost-10 hash would make an unknown email answer faster or slower
 * than a wrong password whenever OCTODB_BCRYPT_ROUNDS is not 10.
 */
export function dummyHash(rounds: number, passwords: PasswordHasher): Promise<string> {
  let hash = dummyHashes.get(rounds);
  if (!hash) {
    dummyHashes.set(rounds, (hash = passwords.hash('no such account', rounds)));
    hash.catch(() => dummyHashes.delete(rounds)); // a busy pool must not poison it for good
  }
  return hash;
}

const INVALID_LOGIN = 'Invalid email or password';

/**
 * POST /token: trades email + password for a JWT.
 * Primary course: check the password, sign a new token (tenant_id, db_id, is_admin, jti, exp),
 * record it as the tenant's only current token. `read` returns the current one instead.
 */
export async function issueToken(
  input: { email: string; password: string; read: boolean },
  deps: TokenDeps,
): Promise<IssuedToken> {
  const tenant = await deps.meta.findTenantByEmail(input.email);
  const ok = await deps.passwords.verify(input.password, tenant?.passwordHash ?? (await dummyHash(deps.bcryptRounds, deps.passwords)));
  if (!tenant || !ok) throw new UnauthorizedError(INVALID_LOGIN);
  if (tenant.suspended) throw tenantSuspended();

  if (input.read) {
    const current = await deps.meta.getIssuedToken(tenant.tenantId);
    if (!current || current.expiresAt.getTime() <= Date.now()) {
      throw new NotFoundError('No current token: request one with "read": false');
    }
    return { token: deps.sealer.open(current.tokenSealed), expires_at: current.expiresAt.toISOString() };
  }

  const [primary] = await deps.meta.listDatabases(tenant.tenantId);
  if (!primary) throw new NotFoundError('This account has no database');
  if (primary.status === 'unverified') {
    throw new ProhibitedError('Verify your email first: POST /verify with the code we sent', { code: 'EMAIL_NOT_VERIFIED' });
  }
  const jti = randomUUID();
  const claims: AccessClaims = { tenant_id: tenant.tenantId, db_id: primary.dbId, is_admin: tenant.isAdmin, jti };
  const { token, exp } = signHs256({ ...claims }, deps.jwtSecret, { ttlSeconds: deps.ttlSeconds, subject: tenant.tenantId });
  const expiresAt = new Date(exp * 1000);
  // Redis is asked first, outside MetaDB's lock: out of reach, /token answers 503 at once
  // (REDIS_UNAVAILABLE) and the current token stays as it was, with no row lock held meanwhile.
  await deps.registry.currentJti(tenant.tenantId);
  // Redis is written under MetaDB's lock on the tenant, so a slower issuance can never leave its
  // jti in Redis after a newer one was saved (the newer token would be refused, the older let in);
  // a Redis lost just now costs the lock at most OCTODB_REDIS_TIMEOUT_MS, then the commit is undone.
  const record = { jti, tokenSealed: deps.sealer.seal(token), expiresAt };
  try {
    await deps.meta.saveIssuedToken(tenant.tenantId, record, () => deps.registry.remember(tenant.tenantId, jti, expiresAt));
  } catch (error) {
    // The commit may have failed after Redis was written: leave verification to MetaDB's token.
    await deps.registry.forget(tenant.tenantId).catch(() => undefined);
    throw error;
  }
  return { token, expires_at: expiresAt.toISOString() };
}

/** A token LF0 accepted; `suspended`: its tenant's requests are refused (403 TENANT_SUSPENDED) by every route. */
export type VerifiedToken = AccessClaims & { suspended: boolean };

/**
 * LF0: accepts only a well-signed (HS256), unexpired token that is its tenant's current one.
 * Any other token throws UnauthorizedError. Where the registry holds the SUSPENDED mark (or
 * nothing), MetaDB answers: a suspended tenant's current token is accepted as `suspended`.
 */
export async function verifyAccessToken(token: string, deps: VerifyTokenDeps): Promise<VerifiedToken> {
  const claims = verifyHs256(token, deps.jwtSecret) as AccessClaims | undefined;
  if (!claims) throw new UnauthorizedError('Unauthorized');
  if (typeof claims.tenant_id !== 'string' || typeof claims.db_id !== 'string' || typeof claims.jti !== 'string') {
    throw new UnauthorizedError('Unauthorized');
  }
  const cached = await deps.registry.currentJti(claims.tenant_id);
  let current = cached;
  let suspended = false;
  if (cached === undefined || cached === SUSPENDED) {
    const state = await deps.meta.getTokenState(claims.tenant_id);
    current = state.issued?.jti ?? null;
    suspended = state.suspended;
    // Never over the mark: a suspension's (or an erasure's) answer must not be cached away.
    if (cached === undefined && state.issued && !suspended) await deps.registry.fill(claims.tenant_id, state.issued.jti, state.issued.expiresAt);
  }
  if (current !== claims.jti) throw new UnauthorizedError('Unauthorized');
  return { tenant_id: claims.tenant_id, db_id: claims.db_id, is_admin: claims.is_admin === true, jti: claims.jti, suspended };
}
