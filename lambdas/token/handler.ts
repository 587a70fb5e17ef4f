import { withLoginLimits } from '#core/rate-limits';
import { issueToken } from '#core/tokens';
import { tokenRoot } from '#adapters/roots';
import { httpHandler, json, parseBody, sourceIpOf } from '#shared/http';
import { tokenRequest } from '#shared/requests';

/** POST /token: email + password → a JWT (`read: true` returns the current one instead). */
export const handler = httpHandler(async (event) => {
  const input = parseBody(event, tokenRequest);
  const d = await tokenRoot();
  return json(200, await withLoginLimits(sourceIpOf(event), input.email, d, () => issueToken(input, d)));
});
