import { runTenantQuery } from '#core/query';
import { deps } from '#adapters/wiring';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { queryRequest } from '#shared/requests';

/** POST /query (behind LF0): one SELECT/INSERT/UPDATE/DELETE in one of the caller's databases. */
export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const input = parseBody(event, queryRequest);
  const { query, params, db_id } = input;
  const d = await deps();
  const ports = { tenantLogins: d.tenantLogins, tenantSql: d.tenantSql, logs: d.queryLogs, quotas: d.quotas };
  return json(200, await runTenantQuery({ tenantId: caller.tenantId, dbId: db_id ?? caller.dbId, query, params }, ports));
});
