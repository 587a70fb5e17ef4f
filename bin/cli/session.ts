import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** A login kept for one API URL: the token and when it expires, and the email to renew it with. */
export interface StoredSession {
  email: string;
  token: string;
  expires_at: string;
}

interface SessionFile {
  /** The URL of the last login: the API a command talks to when neither --url nor OCTODB_URL says. */
  current?: string;
  sessions: Record<string, StoredSession>;
}

/**
 * The user's config dir: $XDG_CONFIG_HOME when it is an absolute path (the XDG spec ignores a
 * relative one), else ~/.config; %APPDATA% on Windows.
 */
export function configDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'octodb');
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'octodb');
  return join(env.HOME || homedir(), '.config', 'octodb');
}

/** The session file (`<config dir>/octodb/session.json`): readable by its owner only, as it holds tokens. */
export class Sessions {
  readonly file: string;

  constructor(env: NodeJS.ProcessEnv) {
    this.file = join(configDir(env), 'session.json');
  }

  /** What is stored; nothing when the file is missing or unreadable (the next login writes it anew). */
  async read(): Promise<SessionFile> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Partial<SessionFile>;
      return { current: typeof parsed.current === 'string' ? parsed.current : undefined, sessions: { ...parsed.sessions } };
    } catch {
      return { sessions: {} };
    }
  }

  async get(url: string): Promise<StoredSession | undefined> {
    return (await this.read()).sessions[url];
  }

  /** Keeps the session for `url` and makes `url` the current API. */
  async save(url: string, session: StoredSession): Promise<void> {
    const stored = await this.read();
    await this.write({ current: url, sessions: { ...stored.sessions, [url]: session } });
  }

  /** Forgets the session for `url`; true when there was one. */
  async remove(url: string): Promise<boolean> {
    const stored = await this.read();
    if (!stored.sessions[url]) return false;
    delete stored.sessions[url];
    await this.write({ current: stored.current === url ? undefined : stored.current, sessions: stored.sessions });
    return true;
  }

  /** Written whole to a file of mode 0600 beside it, then renamed: a crash never leaves half a file, nor a readable one. */
  private async write(content: SessionFile): Promise<void> {
    const dir = join(this.file, '..');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await rm(temp, { force: true });
    await writeFile(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    // The mode given to open() is narrowed by the umask, never widened; chmod makes it exact.
    await chmod(temp, 0o600);
    await rename(temp, this.file);
  }
}
