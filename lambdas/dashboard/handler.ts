import { z } from 'zod';
import { assertKeyScope } from '#core/api-keys';
import { ValidationError } from '#core/errors';
import { limitTenant } from '#core/rate-limits';
import { dashboardRoot } from '#adapters/roots';
import { callerOf, httpHandler, json, parseBody } from '#shared/http';
import { dashboardActions } from './actions.ts';

const envelope = z.looseObject({ action: z.string({ error: 'action is required' }).max(64) });

/** POST /dashboard `{action, ...params}`: one of dashboardActions, for the caller's tenant only. */
export const handler = httpHandler(async (event, log) => {
  const caller = callerOf(event);
  const d = await dashboardRoot(log.keys);
  await limitTenant('dashboard', caller.tenantId, d);
  const valid = Object.keys(dashboardActions);
  let name: string;
  try {
    name = parseBody(event, envelope).action;
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(error.message, { ...error.details, valid_actions: valid });
    throw error;
  }
  const action = Object.hasOwn(dashboardActions, name) ? dashboardActions[name] : undefined;
  if (!action) throw new ValidationError(`Unknown action: ${name.slice(0, 64)}`, { valid_actions: valid });
  assertKeyScope(caller, action.keyScopes ?? [], `run ${name}`);
  const params = parseBody(event, action.params);
  return json(200, await action.run(params, caller, d));
});
