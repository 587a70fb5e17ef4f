import { runTenantQuery } from '#core/query';
import { limitTenant } from '#core/rate-limits';
import { deps } from '#adapters/wiring';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { queryRequest } from '#shared/requests';

/** POST /query (behind LF0): one SELECT/INSERT/UPDATE/DELETE in one of the caller's databases. */
export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const d = await deps();
  await limitTenant('query', caller.tenantId, d);
  const input = parseBody(event, queryRequest);
  const { query, params, db_id } = input;
  const ports = { tenantLogins: d.tenantLogins, tenantSql: d.tenantSql, logs: d.queryLogs, quotas: d.quotas, judge: d.statementJudge };
  return json(200, await runTenantQuery({ tenantId: caller.tenantId, dbId: db_id ?? caller.dbId, query, params }, ports));
});
