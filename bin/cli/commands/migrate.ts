import type { Command } from 'commander';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { migrateAnswer, migratePlanAnswer } from '#shared/responses';
import type { Context, DashboardAnswer } from '../context.ts';
import { CliError, EXIT } from '../exit.ts';
import type { Act } from '../main.ts';
import { fields, note, print, printJson, table } from '../output.ts';
import { type BatchStatus, outcomeOf, printBatch, watchBatch } from '../progress.ts';
import { count, seconds } from '../wait.ts';

type DryRunPlan = z.output<typeof migratePlanAnswer>;
type MigrationList = DashboardAnswer<'list_migrations'>;

/** More than any API takes (1 MiB locally, 64 KB on AWS, 64 KB of `sql` either way): refused before reading. */
const MAX_SQL_BYTES = 1024 * 1024;
const WAIT_SECONDS = 600;

/** The desired tables: one .sql file, or a directory's .sql files in name order. */
export async function readSql(path: string): Promise<string> {
  const fail = (error: unknown): never => {
    throw new CliError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'USAGE');
  };
  const info = await stat(path).catch(fail);
  const files = info.isDirectory() ? (await readdir(path).catch(fail)).filter((name) => name.toLowerCase().endsWith('.sql')).sort().map((name) => join(path, name)) : [path];
  if (files.length === 0) throw new CliError(`No .sql file in ${path}`, 'USAGE');
  const sizes = await Promise.all(files.map(async (file) => (await stat(file).catch(fail)).size));
  const bytes = sizes.reduce((a, b) => a + b, 0);
  if (bytes > MAX_SQL_BYTES) throw new CliError(`${path} holds ${bytes} bytes of SQL: the API takes at most 64 KB in one migration`, 'USAGE');
  return (await Promise.all(files.map((file) => readFile(file, 'utf8').catch(fail)))).join('\n');
}

/** migrate apply, migrations list|status, cascade status. */
export function migrateCommands(program: Command, act: Act): void {
  const migrate = program.command('migrate').description('Declarative schema changes: each CREATE TABLE is the desired state of its table');
  migrate
    .command('apply')
    .description('Submit the CREATE TABLE statements of a .sql file or of a directory of them')
    .argument('<path>', 'a .sql file, or a directory (its .sql files in name order)')
    .option('--db <db_id>', 'the database (default: your first)')
    .option('--dry-run', 'show the plan (DDL per table, unsafe changes, lint) and apply nothing')
    .option('--allow-unsafe', 'permit changes that lose data (dropping a column, narrowing a type, …)')
    .option('--wait', 'wait for every job (and a cascade to child databases), with a progress bar')
    .option('--timeout <seconds>', 'with --wait: how long to wait', seconds, WAIT_SECONDS)
    .action(
      act(async (ctx, opts: { db?: string; dryRun?: boolean; allowUnsafe?: boolean; wait?: boolean; timeout: number }, path: string) => {
        const body = {
          sql: await readSql(path),
          ...(opts.db ? { db_id: opts.db } : {}),
          ...(opts.allowUnsafe ? { allow_unsafe: true } : {}),
          ...(opts.dryRun ? { dry_run: true } : {}),
        };
        if (opts.dryRun) return showPlan(ctx, await ctx.call<DryRunPlan>('/migrate', body));
        const submitted = await ctx.call<z.output<typeof migrateAnswer>>('/migrate', body);
        if (!opts.wait) {
          if (ctx.json) printJson(submitted);
          else {
            print(`Submitted batch ${submitted.batch_id}:`);
            print(table(submitted.jobs, ['job_id', 'table']));
            note(`Follow it: octodb migrations status ${submitted.batch_id} --wait`);
          }
          return EXIT.OK;
        }
        note(`Batch ${submitted.batch_id}: ${submitted.jobs.length} job${submitted.jobs.length === 1 ? '' : 's'}`);
        const status = await watchBatch(ctx, submitted.batch_id, opts.timeout);
        printBatch(ctx, status);
        return outcomeOf(status);
      }),
    );

  const migrations = program.command('migrations').description('Your migrations: list them, or see one');
  migrations
    .command('list')
    .description('Your migration batches, newest first')
    .option('--db <db_id>', 'only those of this database')
    .option('--state <state>', 'only batches in this state')
    .option('--table <table>', 'only batches that change this table')
    .option('--limit <n>', 'how many', count(100))
    .option('--after <key>', 'the next page: the key the previous page printed')
    .action(
      act(async (ctx, opts: { db?: string; state?: string; table?: string; limit?: number; after?: string }) => {
        const filters = { db_id: opts.db, state: opts.state, table: opts.table, limit: opts.limit, last_evaluated_key: opts.after };
        const answer = await ctx.call<MigrationList>('/dashboard', { action: 'list_migrations', ...withoutUndefined(filters) });
        if (ctx.json) printJson(answer);
        else {
          const rows = answer.migrations.map((m) => ({ ...m, counts: Object.entries(m.counts).map(([s, n]) => `${n} ${s}`).join(', '), tables: m.tables.join(', ') }));
          print(table(rows, ['batch_id', 'kind', 'state', 'created_at', 'tables', 'counts']));
          if (answer.last_evaluated_key) note(`More: octodb migrations list --after ${answer.last_evaluated_key}`);
        }
        return EXIT.OK;
      }),
    );
  migrations
    .command('status')
    .description('A batch (its jobs and cascades) or one job (its stages)')
    .argument('<id>', 'a batch_id or a job_id')
    .option('--wait', "wait until the batch (a job's batch) and its cascades are done, with a progress bar")
    .option('--timeout <seconds>', 'with --wait: how long to wait', seconds, WAIT_SECONDS)
    .action(
      act(async (ctx, opts: { wait?: boolean; timeout: number }, id: string) => {
        const found = await batchOrJob(ctx, id);
        if ('kind' in found && !opts.wait) {
          printBatch(ctx, found);
          return EXIT.OK;
        }
        if ('kind' in found || opts.wait) {
          const status = await watchBatch(ctx, found.batch_id, opts.timeout);
          printBatch(ctx, status);
          return outcomeOf(status);
        }
        if (ctx.json) printJson(found);
        else {
          const { stages, cascade, ...job } = found;
          print(fields({ ...job, cascade: cascade?.batch_id ?? null }));
          print(table(stages, ['stage', 'attempt', 'outcome', 'started_at', 'finished_at', 'detail']));
        }
        return EXIT.OK;
      }),
    );

  program
    .command('cascade')
    .description("Admins: a parent change's cascade to the child databases")
    .command('status')
    .description("A cascade's progress and the children it did not succeed on")
    .argument('<id>', "the cascade's batch_id, or the parent migration's batch_id or job_id")
    .option('--wait', 'wait until the cascade is done, with a progress bar')
    .option('--timeout <seconds>', 'with --wait: how long to wait', seconds, WAIT_SECONDS)
    .action(
      act(async (ctx, opts: { wait?: boolean; timeout: number }, id: string) => {
        const found = await batchOrJob(ctx, id);
        const cascades = 'kind' in found ? (found.kind === 'cascade' ? [found.batch_id] : found.jobs.flatMap((j) => (j.cascade ? [j.cascade.batch_id] : []))) : found.cascade ? [found.cascade.batch_id] : [];
        if (cascades.length === 0) throw new CliError(`${id} started no cascade (yet): only an admin's change to a parent database with children does`, 'NOT_FOUND');
        let exit: number = EXIT.OK;
        const shown: BatchStatus[] = [];
        for (const batchId of cascades) {
          const status = opts.wait ? await watchBatch(ctx, batchId, opts.timeout) : await batchOrJob(ctx, batchId);
          shown.push(status as BatchStatus);
          if (opts.wait) exit = Math.max(exit, outcomeOf(status as BatchStatus));
        }
        if (ctx.json) printJson(shown.length === 1 ? shown[0] : shown);
        else for (const status of shown) printBatch(ctx, status);
        return exit;
      }),
    );
}

const withoutUndefined = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));

/** get_migration_status of an id that may name a batch or a job. */
async function batchOrJob(ctx: Context, id: string): Promise<DashboardAnswer<'get_migration_status'>> {
  try {
    return await ctx.dashboard('get_migration_status', { batch_id: id });
  } catch (error) {
    if (!(error instanceof CliError && error.exit === 'NOT_FOUND')) throw error;
    return ctx.dashboard('get_migration_status', { job_id: id });
  }
}

function showPlan(ctx: Context, plan: DryRunPlan): number {
  if (ctx.json) printJson(plan);
  else {
    const rows = plan.tables.map((t) => ({
      ...t,
      ddl: t.ddl.join('\n') || '-',
      notes: [...t.unsafe_reasons.map((r) => `unsafe: ${r}`), ...t.lint.map((l) => `${l.rule}: ${l.message}`)].join('\n'),
    }));
    print(table(rows, ['table', 'change', 'unsafe', 'ddl', 'notes']));
    note('Dry run: nothing was applied.');
  }
  return EXIT.OK;
}
