import { expect } from 'vitest';
import { assertDescribed } from './openapi.ts';

/** An answer with the header an outage test reads besides status and body. */
export interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

/** POST over real HTTP, the answer checked against docs/openapi.json as every test's post() is. */
export async function postAnswer(baseUrl: string, path: string, body: unknown, bearer?: string): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  const answer = { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
  assertDescribed('POST', path, answer.status, answer.body);
  return answer;
}

/** The answer of an outage: 503, a Retry-After, and the code naming what is out of reach. */
export const outage = (code: string) => ({ status: 503, retryAfter: expect.stringMatching(/^[1-9]\d*$/), body: expect.objectContaining({ code }) });
