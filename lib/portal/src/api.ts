/**
 * The portal's only way out: the public OctoDB API (the same routes curl and the CLI use). The
 * token lives in this tab's sessionStorage (gone when the tab closes, never in a URL, never in a
 * cookie, so no CSRF), and is sent as `Authorization: Bearer`.
 */

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** An API error answer: `error` for a person, `code`/`problems` for the program. */
export interface Failure {
  error?: string;
  message?: string | null;
  code?: string;
  problems?: Array<{ field: string; problem: string }>;
  /** On an unknown /dashboard action: the actions this API has. */
  valid_actions?: string[];
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: Failure) {
    super(body.error ?? body.message ?? `HTTP ${status}`);
  }
}

const SESSION_KEY = 'octodb.session';

export interface Session {
  token: string;
  email: string;
}

export function savedSession(): Session | undefined {
  const raw = sessionStorage.getItem(SESSION_KEY);
  if (!raw) return undefined;
  try {
    const session = JSON.parse(raw) as Session;
    return typeof session.token === 'string' && typeof session.email === 'string' ? session : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

/**
 * Where the API is: the page's own directory (API Gateway's stage, or `npm start`, serves both),
 * unless a `config.json` beside the page names another (the build hosted elsewhere; that
 * origin must then be one of the API's CORS origins).
 */
export async function apiBase(): Promise<string> {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (res.ok) {
      const { apiUrl } = (await res.json()) as { apiUrl?: unknown };
      if (typeof apiUrl === 'string' && /^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(apiUrl)) return apiUrl.replace(/\/$/, '');
    }
  } catch {
    // no config: the same origin
  }
  return new URL('.', location.href).href.replace(/\/$/, '');
}

export class Api {
  constructor(
    readonly base: string,
    private readonly token?: string,
    /** Called when the API no longer takes the token (expired, replaced by a newer sign-in). */
    private readonly onUnauthorized?: () => void,
  ) {}

  /** POSTs JSON; answers the status and body whatever the status (callers decide what a 4xx means). */
  async send<T = Record<string, unknown>>(path: string, body: unknown): Promise<Answer<T>> {
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { error: text.slice(0, 200) };
    }
    if (res.status === 401 && this.token) this.onUnauthorized?.();
    return { status: res.status, body: parsed as T };
  }

  /** POSTs JSON and answers the body of a 2xx; anything else throws ApiError. */
  async call<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    const answer = await this.send<T>(path, body);
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    throw new ApiError(answer.status, answer.body as Failure);
  }

  dashboard<T>(action: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.call<T>('/dashboard', { action, ...params });
  }
}

/** A failure as one line for a person: the API's own words, with the fields it names. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const problems = error.body.problems?.map((p) => `${p.field}: ${p.problem}`).join('; ');
    return `${error.message}${problems ? ` (${problems})` : ''} [${error.status}]`;
  }
  return error instanceof Error ? error.message : String(error);
}
