import { ValidationError } from './errors.ts';
import { cursorFits } from './logs.ts';
import type { LogCursor, LogKind } from './ports.ts';
import type { Sealer } from './sealed.ts';

/**
 * Pagination keys handed to clients (URL-safe base64): the store's cursor sealed (AES-GCM) with the data key
 * together with the tenant and the kind of log it pages. The client cannot read or alter it,
 * and a key issued to another tenant, or for the other log kind, is refused.
 */
export function sealPageKey(sealer: Sealer, tenantId: string, kind: LogKind, cursor: LogCursor): string {
  return Buffer.from(sealer.seal(JSON.stringify({ t: tenantId, k: kind, c: cursor }))).toString('base64url');
}

export function openPageKey(sealer: Sealer, tenantId: string, kind: LogKind, key: string): LogCursor {
  const refused = () => new ValidationError('last_evaluated_key is not a key this endpoint issued to you');
  let payload: { t?: unknown; k?: unknown; c?: { tenant_id?: unknown; sk?: unknown } };
  // Only the canonical encoding: base64 decoders skip stray characters, a key must not have any.
  const sealed = Buffer.from(key, 'base64url');
  if (sealed.toString('base64url') !== key || !isCanonicalSealed(sealed.toString('utf8'))) throw refused();
  try {
    payload = JSON.parse(sealer.open(sealed.toString('utf8'))) as typeof payload;
  } catch {
    throw refused();
  }
  const cursor = payload.c;
  if (payload.t !== tenantId || payload.k !== kind || typeof cursor?.tenant_id !== 'string' || typeof cursor.sk !== 'string') {
    throw refused();
  }
  const fits = { tenant_id: cursor.tenant_id, sk: cursor.sk };
  if (!cursorFits(fits, tenantId, kind)) throw refused();
  return fits;
}

/** `v1.<iv>.<tag>.<body>`, each part canonical base64 (so no two keys open to the same cursor). */
function isCanonicalSealed(sealed: string): boolean {
  const [version, ...parts] = sealed.split('.');
  return version === 'v1' && parts.length === 3 && parts.every((p) => Buffer.from(p, 'base64').toString('base64') === p);
}
