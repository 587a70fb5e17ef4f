import { CliError, type ExitName } from './exit.ts';

/** Requests that get no answer within this fail with UNREACHABLE (the API's own deadlines are shorter). */
const REQUEST_TIMEOUT_MS = 60_000;

/** The API's base URL from --url, OCTODB_URL or the session: http(s) only, a stage path kept (`…/prod`). */
export function apiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`Not a URL: ${JSON.stringify(text)} (expected e.g. http://127.0.0.1:3000)`, 'USAGE');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`Not an http(s) URL: ${text}`, 'USAGE');
  if (url.search || url.hash || url.username || url.password) throw new CliError(`The API URL takes no query, fragment or credentials: ${text}`, 'USAGE');
  url.pathname = url.pathname.replace(/\/*$/, '/');
  return url;
}

/** The key a session is stored under: the URL without its trailing slash. */
export const urlKey = (url: URL): string => url.href.replace(/\/$/, '');

/** The exit for an API status: what a script needs to tell apart (fix the input, sign in, retry, report). */
function exitOf(status: number): ExitName {
  if (status === 401) return 'AUTH';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429 || status === 503) return 'UNAVAILABLE';
  if (status >= 500) return 'SERVER';
  return 'REFUSED';
}

/** For a person: the API's error (a 400's names each bad field), then each refused statement of a migration. */
function describe(status: number, body: Record<string, unknown>): string {
  const lines = [String(body.error ?? body.message ?? `HTTP ${status}`)];
  if (Array.isArray(body.statements)) {
    for (const s of body.statements as Array<{ index: number; valid: boolean; rule?: string; reason?: string }>) {
      if (!s.valid) lines.push(`  statement ${s.index} (${s.rule ?? 'invalid'}): ${s.reason ?? ''}`);
    }
  }
  if (typeof body.retry_after_seconds === 'number') lines.push(`  retry after ${body.retry_after_seconds} s`);
  return lines.join('\n');
}

/** The OctoDB HTTP API, as any client sees it: JSON over POST, errors turned into exits. */
export class Api {
  constructor(readonly base: URL) {}

  /** POSTs a JSON body; a 2xx answer's body, else a CliError naming the exit. */
  async post<T>(path: string, body: unknown, token?: string): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(`Cannot reach ${urlKey(this.base)}: ${why}`, 'UNREACHABLE');
    }
    const text = await res.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new CliError(`${urlKey(this.base)} answered ${res.status} with something other than JSON: is it the OctoDB API?`, 'SERVER', { status: res.status });
    }
    if (res.ok) return answer as T;
    const fields = (answer ?? {}) as Record<string, unknown>;
    // API Gateway's answer to a path it does not route: a wrong --url (a missing stage?), not a refusal.
    if (res.status === 403 && fields.message === 'Missing Authentication Token') {
      throw new CliError(`${urlKey(this.base)} has no route ${path}: is --url the OctoDB API (with its stage path)?`, 'SERVER', { status: 403, body: answer });
    }
    if (res.status === 401 && token) {
      throw new CliError('Unauthorized: the token expired, was revoked, or a newer login replaced it; run `octodb login`', 'AUTH', { status: 401, body: answer });
    }
    throw new CliError(describe(res.status, fields), exitOf(res.status), { status: res.status, body: answer });
  }
}
