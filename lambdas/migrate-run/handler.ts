import { logger } from '#shared/logger';

/**
 * M1 — placeholder so the CDK stack can bundle it; the migrations issue replaces this file.
 * It does nothing and says so (a thrown error would only trigger Lambda's async retries).
 */
export async function handler(event: { job_id?: unknown }): Promise<{ outcome: string }> {
  logger.warn('migrate-run is not implemented yet', { job_id: typeof event.job_id === 'string' ? event.job_id : undefined });
  return { outcome: 'not-implemented' };
}
