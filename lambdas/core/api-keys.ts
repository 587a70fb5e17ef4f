import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ConflictError, databaseNotFound, NotFoundError, ProhibitedError, UnauthorizedError, ValidationError } from './errors.ts';
import { ownedDatabase } from './owned-database.ts';
import type { ApiKeyRecord, ApiKeyScope, ApiKeyStore, Caller, FoundApiKey, MetaStore } from './ports.ts';
import type { StatementType } from './sql-guard.ts';

/**
 * An API key: `octo_` and 32 random bytes as base64url. The prefix makes a leaked key easy to
 * find (secret scanners, logs) and tells it from a JWT (which has dots) before any parsing.
 */
export const API_KEY_PREFIX = 'octo_';
const API_KEY = /^octo_[A-Za-z0-9_-]{43}$/;
/** Keys listed at most (live ones first): revoked and expired ones are kept for the record. */
export const MAX_LISTED_KEYS = 100;
/** Furthest expiry a key may be given. */
export const MAX_EXPIRY_DAYS = 3650;

export interface ApiKeyDeps {
  keys: ApiKeyStore;
  meta: Pick<MetaStore, 'getDatabase'>;
  /** OCTODB_API_KEY_SECRET: the HMAC key keys are stored under. */
  apiKeySecret: string;
  /** OCTODB_API_KEY_LIMIT: live keys per tenant. */
  keyLimit: number;
}

export interface VerifyApiKeyDeps {
  keys: Pick<ApiKeyStore, 'findApiKeyByHash'>;
  apiKeySecret: string;
  keyUses: KeyUseRecorder;
}

export interface CreateApiKeyInput {
  name: string;
  scope: ApiKeyScope;
  db_id?: string;
  /** ISO 8601 with an offset; or expires_in_days; or neither (the key does not expire). */
  expires_at?: string;
  expires_in_days?: number;
}

export const isApiKeyShaped = (bearer: string): boolean => bearer.startsWith(API_KEY_PREFIX);

/**
 * What is stored of a key: HMAC-SHA-256 under OCTODB_API_KEY_SECRET. A key has 256 random bits,
 * so no slow hash is needed against guessing (bcrypt would only cost the authorizer ≈ 50 ms a
 * request); the hash being deterministic lets the authorizer find the key by an index; and its
 * key, kept out of MetaDB, means a MetaDB dump cannot confirm a key nor a MetaDB write mint one.
 */
export const hashApiKey = (key: string, secret: string): Buffer => createHmac('sha256', secret).update(key, 'utf8').digest();

/**
 * /dashboard `create_api_key`: a named key of one scope, optionally bound to one database and expiring.
 * Primary course: only the tenant's token may create keys; check the database is the tenant's,
 * draw the key, store its keyed hash (within the tenant's limit of live keys), answer the key once.
 */
export async function createApiKey(input: CreateApiKeyInput, caller: Caller, deps: ApiKeyDeps, now = new Date()) {
  assertTenantToken(caller);
  const expiresAt = expiryOf(input, now);
  if (input.db_id !== undefined) await ownedDatabase(deps.meta, caller.tenantId, input.db_id);
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record: ApiKeyRecord = {
    keyId: randomUUID(),
    tenantId: caller.tenantId,
    name: input.name,
    scope: input.scope,
    dbId: input.db_id ?? caller.dbId,
    dbBound: input.db_id !== undefined,
    createdAt: now,
    expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  };
  if (!(await deps.keys.createApiKey(record, hashApiKey(key, deps.apiKeySecret), deps.keyLimit))) {
    throw new ConflictError(`A tenant holds at most ${deps.keyLimit} live API keys: revoke one first`, { code: 'API_KEY_LIMIT', limit: deps.keyLimit });
  }
  return { ...describeKey(record, now), key };
}

/**
 * /dashboard `list_api_keys`: the tenant's keys without their secret (never stored).
 * Primary course: only the tenant's token may list; live keys first, then newest, at most 100.
 */
export async function listApiKeys(caller: Caller, deps: Pick<ApiKeyDeps, 'keys'>, now = new Date()) {
  assertTenantToken(caller);
  const keys = await deps.keys.listApiKeys(caller.tenantId, MAX_LISTED_KEYS + 1);
  return { keys: keys.slice(0, MAX_LISTED_KEYS).map((k) => describeKey(k, now)), truncated: keys.length > MAX_LISTED_KEYS };
}

/**
 * /dashboard `revoke_api_key`: the key stops working from the next request on.
 * Primary course: only the tenant's token may revoke; mark the tenant's key revoked in MetaDB,
 * which LF0 reads on every request (no cache to outlive it); someone else's key is not found.
 */
export async function revokeApiKey(input: { key_id: string }, caller: Caller, deps: Pick<ApiKeyDeps, 'keys'>, now = new Date()) {
  assertTenantToken(caller);
  if (!(await deps.keys.revokeApiKey(caller.tenantId, input.key_id, now))) throw new NotFoundError('API key not found', { code: 'API_KEY_NOT_FOUND' });
  return { key_id: input.key_id, status: 'revoked' as const };
}

/**
 * LF0: accepts a well-formed key whose hash is stored, not revoked and not expired; records its
 * use (debounced). Anything else throws UnauthorizedError, a garbled key before any lookup.
 */
export async function verifyApiKey(key: string, deps: VerifyApiKeyDeps, now = new Date()): Promise<FoundApiKey> {
  if (!API_KEY.test(key)) throw new UnauthorizedError('Unauthorized');
  const record = await deps.keys.findApiKeyByHash(hashApiKey(key, deps.apiKeySecret));
  if (!record || record.revokedAt || (record.expiresAt && record.expiresAt <= now)) throw new UnauthorizedError('Unauthorized');
  await deps.keyUses.note(record.keyId, now);
  return record;
}

/**
 * A key's last use, written to MetaDB at most once per interval per key and process: no write per
 * request. Failing to write it never refuses a good key (it is a hint, and retried next request).
 */
export class KeyUseRecorder {
  private readonly written: LRUCache<string, number>;

  constructor(
    private readonly keys: Pick<ApiKeyStore, 'recordApiKeyUse'>,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
    maxEntries = 10_000,
  ) {
    this.written = new LRUCache({ max: maxEntries });
  }

  async note(keyId: string, now: Date): Promise<void> {
    const last = this.written.get(keyId);
    if (last !== undefined && now.getTime() - last < this.intervalMs) return;
    this.written.set(keyId, now.getTime());
    try {
      await this.keys.recordApiKeyUse(keyId, now);
    } catch (error) {
      this.written.delete(keyId);
      this.onError(error);
    }
  }
}

/** /query's statement types per scope; `migrate` runs no /query statement. */
const QUERY_TYPES: Record<ApiKeyScope, readonly StatementType[]> = {
  read: ['SELECT'],
  write: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  migrate: [],
};

/** /query, per statement once its type is known: the tenant's token (no scope) runs every type. */
export function assertScopeAllows(scope: ApiKeyScope | undefined, type: StatementType): void {
  if (scope !== undefined && !QUERY_TYPES[scope].includes(type)) throw scopeRefused(scope, `run ${type} statements`);
}

/** A route or dashboard action open to keys of `allowed` scopes (none: the tenant's token only), and always to the token. */
export function assertKeyScope(caller: Caller, allowed: readonly ApiKeyScope[], what: string): void {
  if (!caller.key || allowed.includes(caller.key.scope)) return;
  if (allowed.length === 0) throw new ProhibitedError(`Only the tenant's token (POST /token) may ${what}, not an API key`, { code: 'TOKEN_ONLY' });
  throw scopeRefused(caller.key.scope, what);
}

/** Creating, listing and revoking keys: the tenant's token only, so a leaked key cannot make more. */
const assertTenantToken = (caller: Caller) => assertKeyScope(caller, [], 'manage API keys');

/**
 * The database a request goes to: the one it names, else the caller's. For a key bound to one
 * database any other is "not found", the same answer as someone else's database.
 */
export function databaseFor(caller: Caller, requested: string | undefined): string {
  if (requested === undefined || requested === caller.dbId) return caller.dbId;
  if (caller.key?.dbBound) throw databaseNotFound();
  return requested;
}

const scopeRefused = (scope: ApiKeyScope, what: string) =>
  new ProhibitedError(`An API key of scope ${scope} may not ${what}`, { code: 'KEY_SCOPE', scope });

function expiryOf(input: CreateApiKeyInput, now: Date): Date | null {
  if (input.expires_at !== undefined && input.expires_in_days !== undefined) throw new ValidationError('Give at most one of expires_at and expires_in_days');
  const latest = now.getTime() + MAX_EXPIRY_DAYS * 86_400_000;
  if (input.expires_in_days !== undefined) return new Date(now.getTime() + input.expires_in_days * 86_400_000);
  if (input.expires_at === undefined) return null;
  const at = new Date(input.expires_at);
  if (at.getTime() <= now.getTime()) throw new ValidationError('expires_at must be in the future');
  if (at.getTime() > latest) throw new ValidationError(`expires_at must be within ${MAX_EXPIRY_DAYS} days`);
  return at;
}

/** A key as list and create answer it: never its secret nor its hash. */
function describeKey(k: ApiKeyRecord, now: Date) {
  const expired = k.expiresAt !== null && k.expiresAt <= now;
  return {
    key_id: k.keyId,
    name: k.name,
    scope: k.scope,
    db_id: k.dbBound ? k.dbId : null,
    created_at: k.createdAt.toISOString(),
    expires_at: k.expiresAt?.toISOString() ?? null,
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    revoked_at: k.revokedAt?.toISOString() ?? null,
    status: k.revokedAt ? ('revoked' as const) : expired ? ('expired' as const) : ('active' as const),
  };
}
