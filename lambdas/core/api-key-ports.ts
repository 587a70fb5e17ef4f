/** What a key may do: `read` = SELECT on /query, `write` = SELECT and DML on /query, `migrate` = /migrate. */
export const API_KEY_SCOPES = ['read', 'write', 'migrate'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKeyRecord {
  keyId: string;
  tenantId: string;
  name: string;
  scope: ApiKeyScope;
  /** The database the key's requests go to when they name none: its bound one, else the tenant's first at creation. */
  dbId: string;
  /** Bound: the key works on dbId only. */
  dbBound: boolean;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** A key as LF0 finds it: with whether its tenant is suspended. */
export type FoundApiKey = ApiKeyRecord & { tenantSuspended: boolean };

export type NewApiKey = Omit<ApiKeyRecord, 'createdAt' | 'lastUsedAt' | 'revokedAt'> & { createdAt: Date };

/** MetaDB's api_keys: only the keyed hash of a key is stored, never the key. */
export interface ApiKeyStore {
  /**
   * Records the key unless the tenant already holds `limit` live keys (neither revoked nor expired
   * at `createdAt`), counted under a lock on the tenant so two creations cannot both pass: false then.
   */
  createApiKey(key: NewApiKey, hash: Uint8Array, limit: number): Promise<boolean>;
  /** The tenant's keys, live ones first, then newest first, at most `max`. */
  listApiKeys(tenantId: string, max: number): Promise<ApiKeyRecord[]>;
  /** Marks the tenant's key revoked (kept if already); false when the tenant has no such key. */
  revokeApiKey(tenantId: string, keyId: string, at: Date): Promise<boolean>;
  findApiKeyByHash(hash: Uint8Array): Promise<FoundApiKey | undefined>;
  /** Moves last_used_at forward to `at` (never back). */
  recordApiKeyUse(keyId: string, at: Date): Promise<void>;
}
