import { type BatchStatus, getMigrationStatus, type JobStatus } from '#core/migration-status';
import type { Deps } from '#adapters/wiring';
import type { Caller } from '#shared/http';
import { ValidationError } from '#core/errors';
import { migrationStatusRequest } from '#shared/requests';

/**
 * /dashboard action `get_migration_status`, ready to route: `body` is the parsed request body
 * ({action, batch_id | job_id, limit?}), `caller` the authorizer's identity. Answers 200 with it.
 */
export async function migrationStatusAction(body: unknown, caller: Caller, d: Deps): Promise<BatchStatus | JobStatus> {
  const parsed = migrationStatusRequest.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', problem: i.message }));
    throw new ValidationError(`Invalid request: ${problems[0]!.field}: ${problems[0]!.problem}`, { problems });
  }
  return getMigrationStatus(parsed.data, caller, { meta: d.meta, migrations: d.migrations, state: d.migrationState });
}
