import { signUpTenant } from '#core/signup';
import { deps, signupDeps } from '#adapters/wiring';
import { httpHandler, json, parseBody } from '#shared/http';
import { signupRequest } from '#shared/requests';

/** LF3 — POST /signup: registers a tenant; its database is provisioned asynchronously (LF6). */
export const handler = httpHandler(async (event) => {
  const input = parseBody(event, signupRequest);
  const result = await signUpTenant(input, signupDeps(await deps()));
  return json(202, result);
});
