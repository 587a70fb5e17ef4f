import { issueToken } from '#core/tokens';
import { deps, tokenDeps } from '#adapters/wiring';
import { httpHandler, json, parseBody } from '#shared/http';
import { tokenRequest } from '#shared/requests';

/** POST /token: email + password → a JWT (`read: true` returns the current one instead). */
export const handler = httpHandler(async (event) => {
  const input = parseBody(event, tokenRequest);
  return json(200, await issueToken(input, tokenDeps(await deps())));
});
