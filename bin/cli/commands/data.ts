import type { Command } from 'commander';
import type { z } from 'zod';
import type { logItem, queryAnswer } from '#shared/responses';
import type { Context, DashboardAnswer } from '../context.ts';
import { EXIT, isTransient } from '../exit.ts';
import { note, print, printJson, table } from '../output.ts';
import type { Act } from '../main.ts';
import { count, seconds, sleep } from '../wait.ts';

type Param = string | number | boolean | null;
type LogItem = z.output<typeof logItem>;

/** A --params value: JSON when it reads as a JSON scalar (42, true, null, "42"), else the text itself. */
export function param(text: string): Param {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value as Param;
  } catch {
    // not JSON: the text is the value
  }
  return text;
}

/** dbs, tables, query, logs, stats: a tenant's databases and what runs in them. */
export function dataCommands(program: Command, act: Act): void {
  program
    .command('dbs')
    .description('Your databases and their status')
    .action(
      act(async (ctx) => {
        const answer = await ctx.dashboard('list_databases');
        if (ctx.json) printJson(answer);
        else print(table(answer.databases, ['db_id', 'status', 'template', 'created_at', 'status_reason']));
        return EXIT.OK;
      }),
    );

  program
    .command('tables')
    .description("A database's tables")
    .option('--db <db_id>', 'the database (default: your first)')
    .action(
      act(async (ctx, opts: { db?: string }) => {
        const answer = await ctx.dashboard('get_database_tables', opts.db ? { db_id: opts.db } : {});
        if (ctx.json) printJson(answer);
        else {
          print(table(answer.tables, ['name', 'rows_estimate']));
          if (answer.truncated) note('(more tables than listed)');
        }
        return EXIT.OK;
      }),
    );

  program
    .command('query')
    .description('Run one SELECT, INSERT, UPDATE or DELETE; rows as a table (--json: the API answer)')
    .argument('<sql>', 'the statement, `?` for each parameter')
    .option('--params <values...>', 'values for the `?`s, after the SQL: JSON scalars (42, true, null, "42") or plain text')
    .option('--db <db_id>', 'the database (default: your first)')
    .action(
      act(async (ctx, opts: { params?: string[]; db?: string }, sql: string) => {
        const body = { query: sql, params: (opts.params ?? []).map(param), ...(opts.db ? { db_id: opts.db } : {}) };
        const answer = await ctx.call<z.output<typeof queryAnswer>>('/query', body);
        if (ctx.json) printJson(answer);
        else if (answer.columns.length > 0) {
          print(table(answer.data, answer.columns.map((c) => c.name)));
          note(`${answer.data.length} row${answer.data.length === 1 ? '' : 's'}${answer.truncated ? ' (truncated: more rows matched than one answer holds)' : ''}`);
        } else print(`${answer.rowsAffected} row${answer.rowsAffected === 1 ? '' : 's'} affected${answer.insertId ? `, insert id ${answer.insertId}` : ''}`);
        return EXIT.OK;
      }),
    );

  program
    .command('logs')
    .description('Your provisioning and migration logs (--queries: one record per query), oldest first; --json: one JSON record a line')
    .option('-f, --follow', 'keep printing new records until interrupted')
    .option('--queries', 'the query records instead')
    .option('--limit <n>', 'how many of the newest records to print first', count(100), 25)
    .option('--interval <seconds>', 'with --follow: seconds between polls', seconds, 1)
    .action(
      act(async (ctx, opts: { follow?: boolean; queries?: boolean; limit: number; interval: number }) => {
        const action = opts.queries ? 'get_query_logs' : 'get_log_table';
        const show = (items: LogItem[]) => {
          for (const item of [...items].reverse()) print(ctx.json ? JSON.stringify(item) : logLine(item));
        };
        const newest = (await ctx.dashboard(action, { limit: opts.limit })).items;
        show(newest);
        if (!opts.follow) return EXIT.OK;
        return follow(ctx, action, newest, show, opts.interval * 1000);
      }),
    );

  program
    .command('stats')
    .description('Query counts, errors and latency (p50, p95) per statement type')
    .option('--window <window>', 'how far back: a number and m, h or d (at most 30d)', '1h')
    .action(
      act(async (ctx, opts: { window: string }) => {
        const answer = await ctx.dashboard('get_query_stats', { window: opts.window });
        if (ctx.json) printJson(answer);
        else {
          const rows = [{ type: 'all', ...answer.total }, ...Object.entries(answer.by_statement_type).map(([type, s]) => ({ type, ...s }))];
          print(table(rows, ['type', 'count', 'errors', 'p50_ms', 'p95_ms']));
          note(`from ${answer.since} to ${answer.until}`);
        }
        return EXIT.OK;
      }),
    );
}

const logLine = (item: LogItem): string => {
  const where = [item.source, item.job_id && `job=${item.job_id}`, item.stage, item.duration_ms !== undefined && `${item.duration_ms} ms`];
  return `${item.create_timestamp} ${item.level.padEnd(5)} ${where.filter(Boolean).join(' ')}: ${item.message}`;
};

/** A page read per poll; past this many pages of new records in one interval the rest are skipped (said so). */
const FOLLOW_MAX_PAGES = 10;

/** --follow: polls the newest page and prints what was not there before, until SIGINT or SIGTERM. */
async function follow(ctx: Context, action: 'get_log_table' | 'get_query_logs', first: LogItem[], show: (items: LogItem[]) => void, intervalMs: number): Promise<number> {
  let stop = false;
  const end = () => {
    stop = true;
  };
  process.once('SIGINT', end).once('SIGTERM', end);
  let seen = new Set(first.map((i) => i.log_id));
  while (!stop) {
    await sleep(intervalMs);
    if (stop) break;
    const fresh = await unseen(ctx, action, seen).catch((error: unknown) => {
      if (isTransient(error)) return []; // waited out: the next poll reads what this one missed
      throw error;
    });
    show(fresh);
    if (fresh.length > 0) seen = new Set(fresh.slice(0, 100).map((i) => i.log_id));
  }
  return EXIT.OK;
}

/** The records newer than the newest seen, newest first: pages read until one holds a seen record. */
async function unseen(ctx: Context, action: 'get_log_table' | 'get_query_logs', seen: Set<string>): Promise<LogItem[]> {
  const fresh: LogItem[] = [];
  let key: string | null = null;
  for (let page = 0; page < FOLLOW_MAX_PAGES; page++) {
    const answer: DashboardAnswer<'get_log_table'> = await ctx.dashboard(action, { limit: 100, ...(key ? { last_evaluated_key: key } : {}) });
    const at = answer.items.findIndex((item) => seen.has(item.log_id));
    fresh.push(...(at === -1 ? answer.items : answer.items.slice(0, at)));
    key = answer.last_evaluated_key;
    if (at !== -1 || !key || seen.size === 0) return fresh;
  }
  note(`(more than ${FOLLOW_MAX_PAGES * 100} new records in one interval: older ones skipped)`);
  return fresh;
}
