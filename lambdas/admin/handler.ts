import { createAdmin } from '#core/admin';
import { OctoError } from '#core/errors';
import { deps } from '#adapters/wiring';
import { signupRequest } from '#shared/requests';
import { isSetQuota, setQuota } from './set-quota.ts';

/**
 * Operator-only: creates an admin tenant on AWS, or (`{action: 'set-quota', tenant_id, bytes}`)
 * sets a tenant's storage quota. It has no API route; `npm run admin` invokes it
 * (OCTODB_ADMIN_FUNCTION) with the operator's own IAM credentials. Answers the command's result
 * or `{error}`.
 */
export async function handler(event: unknown): Promise<Record<string, unknown>> {
  if (isSetQuota(event)) return answerOf(async () => setQuota(event, await deps()));
  const parsed = signupRequest.safeParse(event);
  if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const d = await deps();
  try {
    return await createAdmin(parsed.data, {
      ...d,
      bcryptRounds: d.config.OCTODB_BCRYPT_ROUNDS,
      scriptTimeoutSeconds: d.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
    });
  } catch (error) {
    if (error instanceof OctoError) return { error: error.message };
    throw error;
  }
}

async function answerOf(run: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OctoError) return { error: error.message };
    throw error;
  }
}
