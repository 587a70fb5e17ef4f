import type { HostRunResult, LogRecord } from './ports.ts';

/**
 * What a tenant reads of a host script's output: the server's own error as a job's reason, and
 * the job's log lines (the DDL run, the server's answer). Skeema wraps the server's error in its
 * own words (the workspace's file path, the host endpoint) and ends with summary lines ("Skipped 1
 * operation due to problem"); the scripts print marker lines with a nonce. None of that is the
 * tenant's business, and paths, endpoints and account names are the host's.
 */

/** Skeema's log line prefix: date, time, level. */
export const LOG_PREFIX = /^\S+ \S+ \[(ERROR|WARN|INFO|DEBUG)\]\s*/;
/** Skeema's lines that only sum up the errors already printed. */
const SUMMARY = /^(?:Skipped \d+ operations? due to|Skipping \S+ due to \d+ SQL errors?)/;
/** The script's workspace (mktemp -d: tmp.XXXXXXXXXX), with the file path Skeema prefixes (`…/t.sql:1:1: `). */
const WORKSPACE = /(?:\/[^\s/'"`]+)*\/tmp\.[A-Za-z0-9]{6,}(?:\/[^\s'"`:]*)?(?::\d+:\d+:)?\s?/;
/** A host endpoint as Skeema names it: before a schema (`127.0.0.1:3306 db_x`), or alone. */
const ENDPOINT = /\b(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{2,5}\b ?/g;
/** An account in a server message (`Access denied for user 'octodb'@'10.0.0.5'`). */
const ACCOUNT = /'[^'\n]*'@'[^'\n]*'/g;
/** The scripts' marker lines (host-scripts.ts newScriptMarkers), whatever their nonce, as words for people. */
const MARKERS: ReadonlyArray<[RegExp, string]> = [
  [/^__OCTODB_DEFINITION_[0-9a-f]{8,64}__$/, 'definition read back:'],
  [/^__OCTODB_NO_TABLE_[0-9a-f]{8,64}__$/, 'the table does not exist'],
  [/^__OCTODB_DESIRED_[0-9a-f]{8,64}__$/, 'desired definition as the server writes it:'],
  [/^__OCTODB_DDL_TIMEOUT_[0-9a-f]{8,64}__$/, 'the change ran past its time limit'],
];

export interface SkeemaLine {
  level: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | null;
  /** Without the prefix; a message spread over lines keeps its continuation lines. */
  text: string;
}

/** stderr as Skeema's log entries: a line without the log prefix continues the entry before it. */
export function skeemaLines(stderr: string): SkeemaLine[] {
  const entries: SkeemaLine[] = [];
  for (const line of stderr.split('\n')) {
    const prefix = LOG_PREFIX.exec(line);
    const last = entries.at(-1);
    if (prefix) entries.push({ level: prefix[1] as SkeemaLine['level'], text: line.slice(prefix[0].length) });
    else if (last?.level && line.trim() !== '') last.text += `\n${line}`;
    else if (line.trim() !== '') entries.push({ level: null, text: line });
  }
  return entries;
}

/** Without the workspace path, the host endpoint and account names. */
export function scrubHostDetails(text: string): string {
  return text.replace(new RegExp(WORKSPACE.source, 'g'), '').replace(ENDPOINT, (m) => (m.endsWith(' ') ? '' : 'the database host')).replace(ACCOUNT, "'…'");
}

/**
 * The reason a failed Skeema run gives a tenant: the server's own error from its first [ERROR]
 * entry (`Error 1074: Column length too big for column 'v' (max = 16383); …`), else that entry
 * without Skeema's paths, else the first line printed; summary lines never.
 */
export function failureReason(stderr: string, exitCode: number): string {
  const all = skeemaLines(stderr);
  const entries = all.filter((e) => !SUMMARY.test(e.text));
  const error =
    entries.find((e) => e.level === 'ERROR') ?? entries.find((e) => e.level === null) ?? entries.find((e) => e.level === 'WARN') ?? all.find((e) => e.level === 'ERROR');
  if (!error) return `exit code ${exitCode}`;
  const server = /\bError \d{4,5}\b/.exec(error.text.split(/['"`]/)[0]!);
  return scrubHostDetails(server ? error.text.slice(server.index) : error.text).slice(0, 1000);
}

/**
 * A job's host script output as log records: stdout (the DDL Skeema ran, definitions) with its
 * marker lines in words and without Skeema's `-- instance` line; stderr's errors and warnings
 * (the server's answer) and the script's own lines, without Skeema's workspace chatter and
 * summaries. Paths, endpoints and accounts are removed from both.
 */
export function jobOutputLines(result: HostRunResult): Array<Pick<LogRecord, 'level' | 'message'>> {
  const out = result.stdout
    .split('\n')
    .filter((l) => !l.startsWith('-- instance:'))
    .map((l) => MARKERS.find(([pattern]) => pattern.test(l))?.[1] ?? scrubHostDetails(l))
    .join('\n')
    .trim();
  const err = skeemaLines(result.stderr)
    .filter((e) => !SUMMARY.test(e.text) && !(e.level && (e.level === 'DEBUG' || (e.level === 'INFO' && WORKSPACE.test(e.text)))))
    .map((e) => `${e.level ? `[${e.level}] ` : ''}${scrubHostDetails(e.text)}`)
    .join('\n')
    .trim();
  const lines: Array<Pick<LogRecord, 'level' | 'message'>> = [];
  if (out) lines.push({ level: 'INFO', message: out });
  if (err) lines.push({ level: result.exitCode === 0 ? 'INFO' : 'ERROR', message: err });
  return lines;
}
