import { submitMigration } from '#core/migration-submit';
import { deps, migrationDeps } from '#adapters/wiring';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { migrateRequest } from '#shared/requests';

/** POST /migrate (M0): validates the CREATE TABLE statements and queues one job per table. */
export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const input = parseBody(event, migrateRequest);
  return json(202, await submitMigration(input, caller, migrationDeps(await deps())));
});
