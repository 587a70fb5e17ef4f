import { limitSignup } from '#core/rate-limits';
import { signUpTenant } from '#core/signup';
import { signupRoot } from '#adapters/roots';
import { httpHandler, json, parseBody, sourceIpOf } from '#shared/http';
import { signupRequest } from '#shared/requests';

/** LF3 — POST /signup: registers a tenant; its database is provisioned asynchronously (LF6). */
export const handler = httpHandler(async (event, log) => {
  const input = parseBody(event, signupRequest);
  const d = await signupRoot(log.keys);
  await limitSignup(sourceIpOf(event), input.email, d);
  return json(202, await signUpTenant(input, d));
});
