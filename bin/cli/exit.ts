/**
 * The CLI's exit codes, by name: scripts branch on them, so they are part of its interface
 * (docs/cli.md lists them; test/unit/cli.test.ts checks that list against this one).
 */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** Unexpected: a bug, or an answer the CLI does not understand. */
  ERROR: 1,
  /** Bad command line: an unknown command or flag, a missing argument, a bad --url, an unreadable file. */
  USAGE: 2,
  /** Not signed in, the session expired or was replaced by a newer login, wrong email or password (401). */
  AUTH: 3,
  /** The API found no such database, migration or key (404). */
  NOT_FOUND: 4,
  /** The API refused the request: bad input (400, 413), prohibited (403), too slow (408), conflict (409). */
  REFUSED: 5,
  /** Try again later: rate limited (429) or briefly unavailable (503). */
  UNAVAILABLE: 6,
  /** The server failed (500, 502), or what answered is not the OctoDB API. */
  SERVER: 7,
  /** No answer: connection refused, unknown host, timed out. */
  UNREACHABLE: 8,
  /** What the command waited for failed: a migration job, a cascade's child, a database's provisioning. */
  FAILED: 9,
  /** --wait gave up before the work was done (it goes on on the server). */
  TIMEOUT: 10,
} as const;
export type ExitName = keyof typeof EXIT;

/** An error the CLI reports as one line on stderr (or JSON with --json) and exits with by name. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: ExitName,
    /** What the API answered, shown with --json. */
    readonly details: { status?: number; body?: unknown } = {},
  ) {
    super(message);
  }
}

/** A moment of unavailability (429, 503, no answer): a command that polls waits it out. */
export const isTransient = (error: unknown): boolean => error instanceof CliError && (error.exit === 'UNAVAILABLE' || error.exit === 'UNREACHABLE');
