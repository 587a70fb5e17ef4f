import { databaseFor } from '#core/api-keys';
import { runTenantQuery } from '#core/query';
import { limitTenant } from '#core/rate-limits';
import { queryRoot } from '#adapters/roots';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { queryRequest } from '#shared/requests';

/** POST /query (behind LF0): one SELECT/INSERT/UPDATE/DELETE in one of the caller's databases. */
export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const d = await queryRoot();
  await limitTenant('query', caller.tenantId, d);
  const { query, params, db_id } = parseBody(event, queryRequest);
  return json(200, await runTenantQuery({ tenantId: caller.tenantId, dbId: databaseFor(caller, db_id), query, params, scope: caller.key?.scope }, d));
});
