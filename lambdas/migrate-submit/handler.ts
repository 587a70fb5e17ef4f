import { assertKeyScope } from '#core/api-keys';
import { planMigration } from '#core/migration-plan';
import { submitMigration } from '#core/migration-submit';
import { limitTenant } from '#core/rate-limits';
import { migrateSubmitRoot } from '#adapters/roots';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { migrateRequest } from '#shared/requests';

/** POST /migrate (M0): validates the CREATE TABLE statements and queues one job per table, or (dry_run) answers the plan. */
export const handler = httpHandler(async (event, log) => {
  const caller = callerOf(event);
  const d = await migrateSubmitRoot(log.keys);
  await limitTenant('migrate', caller.tenantId, d);
  assertKeyScope(caller, ['migrate'], 'use /migrate');
  const input = parseBody(event, migrateRequest);
  if (input.dry_run) return json(200, await planMigration(input, caller, d));
  return json(202, await submitMigration(input, caller, d));
});
