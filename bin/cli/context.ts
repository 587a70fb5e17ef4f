import type { z } from 'zod';
import type { dashboardAnswers, tokenAnswer } from '#shared/responses';
import { Api, apiUrl, urlKey } from './api.ts';
import { CliError } from './exit.ts';
import { Sessions, type StoredSession } from './session.ts';

/** A /dashboard action's answer, typed from the schemas docs/openapi.json is generated from. */
export type DashboardAnswer<A extends keyof typeof dashboardAnswers> = z.output<(typeof dashboardAnswers)[A]>;

/** The options every command takes (commander's globals). */
export interface GlobalOptions {
  url?: string;
  json?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:3000';
/** A token this close to its expiry is renewed before use (when it can be): it must not die on the way. */
const RENEW_BEFORE_MS = 30_000;

/** What a command runs with: the API it talks to, the session for it, and how to print. */
export class Context {
  readonly api: Api;

  private constructor(
    readonly url: URL,
    readonly json: boolean,
    readonly env: NodeJS.ProcessEnv,
    readonly sessions: Sessions,
  ) {
    this.api = new Api(url);
  }

  /** The API: --url, else OCTODB_URL, else the last login's, else the local gateway. */
  static async create(options: GlobalOptions, env: NodeJS.ProcessEnv): Promise<Context> {
    const sessions = new Sessions(env);
    const url = options.url ?? env.OCTODB_URL ?? (await sessions.read()).current ?? DEFAULT_URL;
    return new Context(apiUrl(url), options.json === true, env, sessions);
  }

  get urlKey(): string {
    return urlKey(this.url);
  }

  /** POST /token; the new token is stored for this URL (it revokes the previous one on the server). */
  async signIn(email: string, password: string): Promise<StoredSession> {
    const answer = await this.api.post<z.output<typeof tokenAnswer>>('/token', { email, password });
    const session = { email, token: answer.token, expires_at: answer.expires_at };
    await this.sessions.save(this.urlKey, session);
    return session;
  }

  /**
   * A guarded route, with OCTODB_TOKEN (a token or an API key) or the stored session's token. An
   * expired one is renewed when OCTODB_PASSWORD is set (scripts, CI); else the user is told to log in.
   */
  async call<T>(path: string, body: unknown): Promise<T> {
    if (this.env.OCTODB_TOKEN) return this.api.post<T>(path, body, this.env.OCTODB_TOKEN);
    let session = await this.sessions.get(this.urlKey);
    if (!session) throw new CliError(`Not signed in to ${this.urlKey}: run \`octodb login\` (or set OCTODB_TOKEN)`, 'AUTH');
    if (Date.parse(session.expires_at) - Date.now() < RENEW_BEFORE_MS) {
      session = await this.renew(session, `The session at ${this.urlKey} expired at ${session.expires_at}`);
    }
    try {
      return await this.api.post<T>(path, body, session.token);
    } catch (error) {
      if (!(error instanceof CliError && error.details.status === 401 && this.env.OCTODB_PASSWORD)) throw error;
      // Replaced by a login elsewhere: sign in again once, as for an expired token.
      return this.api.post<T>(path, body, (await this.renew(session, '')).token);
    }
  }

  dashboard<A extends keyof typeof dashboardAnswers>(action: A, params: Record<string, unknown> = {}): Promise<DashboardAnswer<A>> {
    return this.call('/dashboard', { action, ...params });
  }

  private async renew(session: StoredSession, why: string): Promise<StoredSession> {
    if (!this.env.OCTODB_PASSWORD) throw new CliError(`${why}: run \`octodb login\``, 'AUTH');
    return this.signIn(session.email, this.env.OCTODB_PASSWORD);
  }
}
