import { verifySignup } from '#core/signup';
import { verifyRoot } from '#adapters/roots';
import { httpHandler, json, parseBody } from '#shared/http';
import { verifyRequest } from '#shared/requests';

/** POST /verify: a signup's emailed code starts provisioning its database (LF6), as /signup does without verification. */
export const handler = httpHandler(async (event, log) => {
  const input = parseBody(event, verifyRequest);
  return json(202, await verifySignup(input, await verifyRoot(log.keys)));
});
