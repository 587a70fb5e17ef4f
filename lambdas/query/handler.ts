import { callerOf, httpHandler, json } from '#shared/http';

/** Behind LF0 already; its behaviour lands with its own issue. */
export const handler = httpHandler(async (event) => {
  callerOf(event);
  return json(501, { error: 'Not implemented yet' });
});
