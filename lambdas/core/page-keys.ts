import { ValidationError } from './errors.ts';
import { cursorFits } from './logs.ts';
import type { LogCursor, LogKind } from './ports.ts';
import type { Sealer } from './sealed.ts';

/**
 * What a key pages: one kind of log, the tenant's migration batches, the jobs of one batch
 * (`jobs:<batch_id>`), or an admin's children. A key is only good for the list it was issued for.
 */
export type PageScope = LogKind | 'migrations' | 'children' | `jobs:${string}`;

/**
 * Pagination keys handed to clients (URL-safe base64): the store's cursor sealed (AES-GCM) with the data key
 * together with the tenant and the list it pages. The client cannot read or alter it,
 * and a key issued to another tenant, or for another list, is refused.
 */
export function sealPageKey(sealer: Sealer, tenantId: string, scope: PageScope, cursor: unknown): string {
  return Buffer.from(sealer.seal(JSON.stringify({ t: tenantId, k: scope, c: cursor }))).toString('base64url');
}

/** Opens a key of `scope` issued to this tenant; `read` gives its cursor back, or undefined when it has not the expected shape. */
export function openPageKey<C>(sealer: Sealer, tenantId: string, scope: PageScope, key: string, read: (cursor: unknown) => C | undefined): C {
  const refused = () => new ValidationError('last_evaluated_key is not a key this endpoint issued to you');
  let payload: { t?: unknown; k?: unknown; c?: unknown };
  // Only the canonical encoding: base64 decoders skip stray characters, a key must not have any.
  const sealed = Buffer.from(key, 'base64url');
  if (sealed.toString('base64url') !== key || !isCanonicalSealed(sealed.toString('utf8'))) throw refused();
  try {
    payload = JSON.parse(sealer.open(sealed.toString('utf8'))) as typeof payload;
  } catch {
    throw refused();
  }
  const cursor = payload.t === tenantId && payload.k === scope ? read(payload.c) : undefined;
  if (cursor === undefined) throw refused();
  return cursor;
}

/** A MetaDB timestamp as a cursor holds it (DATE_FORMAT '%Y-%m-%d %H:%i:%s.%f'): compared by the server, never parsed here. */
export const SERVER_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;

/** A log cursor of this tenant's partition and this kind's key range. */
export const logCursor =
  (tenantId: string, kind: LogKind) =>
  (c: unknown): LogCursor | undefined => {
    const { tenant_id, sk } = (c ?? {}) as Partial<Record<keyof LogCursor, unknown>>;
    if (typeof tenant_id !== 'string' || typeof sk !== 'string') return undefined;
    const fits = { tenant_id, sk };
    return cursorFits(fits, tenantId, kind) ? fits : undefined;
  };

/** `v1.<iv>.<tag>.<body>`, each part canonical base64 (so no two keys open to the same cursor). */
function isCanonicalSealed(sealed: string): boolean {
  const [version, ...parts] = sealed.split('.');
  return version === 'v1' && parts.length === 3 && parts.every((p) => Buffer.from(p, 'base64').toString('base64') === p);
}
