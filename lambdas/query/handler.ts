import { databaseFor } from '#core/api-keys';
import { runTenantBatch } from '#core/query-batch';
import { runTenantQuery } from '#core/query';
import { chargeBatch, limitTenant } from '#core/rate-limits';
import { queryRoot } from '#adapters/roots';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { queryRequest } from '#shared/requests';

/** POST /query (behind LF0): one SELECT/INSERT/UPDATE/DELETE, or a batch of them, in one of the caller's databases. */
export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const d = await queryRoot();
  await limitTenant('query', caller.tenantId, d);
  const body = parseBody(event, queryRequest);
  const target = { tenantId: caller.tenantId, dbId: databaseFor(caller, body.db_id), scope: caller.key?.scope };
  if (body.kind === 'batch') {
    chargeBatch(caller.tenantId, body.statements.length, d);
    return json(200, await runTenantBatch({ ...target, statements: body.statements, transaction: body.transaction }, d));
  }
  return json(200, await runTenantQuery({ ...target, query: body.query, params: body.params }, d));
});
