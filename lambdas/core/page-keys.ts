import { ValidationError } from './errors.ts';
import { cursorFits } from './logs.ts';
import type { LogCursor, LogKind } from './ports.ts';
import type { Sealer } from './sealed.ts';

/**
 * Pagination keys handed to clients: the store's cursor sealed (AES-GCM) with the data key
 * together with the tenant and the kind of log it pages. The client cannot read or alter it,
 * and a key issued to another tenant, or for the other log kind, is refused.
 */
export function sealPageKey(sealer: Sealer, tenantId: string, kind: LogKind, cursor: LogCursor): string {
  return sealer.seal(JSON.stringify({ t: tenantId, k: kind, c: cursor }));
}

export function openPageKey(sealer: Sealer, tenantId: string, kind: LogKind, key: string): LogCursor {
  const refused = () => new ValidationError('last_evaluated_key is not a key this endpoint issued to you');
  let payload: { t?: unknown; k?: unknown; c?: { tenant_id?: unknown; sk?: unknown } };
  try {
    payload = JSON.parse(sealer.open(key)) as typeof payload;
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
