/**
 * `npm run bench -- parser-budget [--budget 50] [--growth 2] [--seed 1]`
 *
 * Fuzzes both validators (/query's guardTenantStatement, /migrate's judgeMigrationSql) with
 * generated nested shapes (CASE, simple CASE, IF, COALESCE, subqueries, JSON functions, unions,
 * CAST, parentheses, long IN lists, and random mixes of them) at growing depth up to the body cap,
 * through the statement judge as the request path uses it: a worker bundled by esbuild as in a
 * Lambda bundle, under the budget. Per shape: the longest validator wall time seen against the budget.
 * Meanwhile a probe measures the event loop's delay (what every other tenant would wait), against the
 * same probe measured first in this run with no parsing.
 * Goals: no statement costs more than the budget plus termination overhead (50 ms here);
 * the event loop's p99 delay under the fuzz stays within 3x of its baseline (+1 ms of timer grain).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

type Wrap = (inner: string, i: number) => string;

const WRAPPERS: Record<string, Wrap> = {
  'CASE': (e) => `CASE WHEN a = 1 THEN (${e}) ELSE 0 END`,
  'simple CASE': (e, i) => `CASE (${e}) WHEN ${i} THEN 2 END`,
  'IF': (e) => `IF((${e}) > 0, 1, 0)`,
  'COALESCE': (e) => `COALESCE(${e}, NULL, 1)`,
  'subquery': (e) => `(SELECT ${e} FROM customers WHERE id = 1)`,
  'JSON functions': (e) => `JSON_EXTRACT(JSON_OBJECT('k', ${e}), '$.k')`,
  'union': (e) => `(SELECT ${e} AS x UNION SELECT 2)`,
  'CAST': (e) => `CAST(${e} AS SIGNED)`,
  'parentheses': (e) => `(${e})`,
};
const IN_LIST = 'long IN list';
const MIXED = 'random mix';

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { budget: { type: 'string', default: '50' }, growth: { type: 'string', default: '2' }, seed: { type: 'string', default: '1' } },
  });
  const budgetMs = Number(values.budget);
  const growth = Number(values.growth);
  const { build } = await import('esbuild');
  const { WorkerStatementJudge } = await import('#adapters/worker-statement-judge');
  const { guardTenantStatement, judgeMigrationSql } = await import('#core/statement-judging');
  const { loadConfig } = await import('#shared/config');
  const bodyCap = loadConfig().OCTODB_MAX_BODY_BYTES;

  // The worker as a Lambda bundle has it (lib/octo-function.ts): one esbuild'd file, no tsx.
  const dir = mkdtempSync(join(tmpdir(), 'octodb-judge-'));
  const script = join(dir, 'statement-judge-worker.mjs');
  await build({
    entryPoints: ['lambdas/adapters/statement-judge-thread.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: script,
    logLevel: 'silent',
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
  });
  const judge = new WorkerStatementJudge(pathToFileURL(script), { budgetMs, workers: 1, perTenantQueue: 4 });
  const ready = () => judge.judge('bench', { kind: 'query', sql: 'SELECT 1', database: 'db_bench' });
  await ready();

  // Baseline: the event loop's delay with the judge idle, measured the same way as under the fuzz.
  const baseline = delayProbe();
  baseline.start();
  await new Promise((r) => setTimeout(r, 2000));
  baseline.stop();

  let seed = Number(values.seed);
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const mixed = Object.values(WRAPPERS);
  const shapes = [...Object.keys(WRAPPERS), IN_LIST, MIXED];
  const expression = (shape: string, depth: number, leaf: string): string => {
    if (shape === IN_LIST) return `${leaf} IN (${Array.from({ length: depth }, (_, i) => i).join(', ')})`;
    let e = leaf;
    for (let i = 0; i < depth; i++) e = (shape === MIXED ? mixed[Math.floor(random() * mixed.length)]! : WRAPPERS[shape]!)(e, i);
    return e;
  };
  const statements = {
    query: (shape: string, depth: number) => `SELECT ${expression(shape, depth, 'id')} FROM customers`,
    migrate: (shape: string, depth: number) => `CREATE TABLE t (id INT PRIMARY KEY, a INT DEFAULT ((${expression(shape, depth, '1')})));`,
  };

  const during = delayProbe();
  const rows: string[] = [];
  let worst = 0;
  let n = 0;
  for (const shape of shapes) {
    for (const [validator, statement] of Object.entries(statements)) {
      const seen = { max: 0, depth: 0, chars: 0, ok: 0, refused: 0, overBudget: 0 };
      for (let depth = 1; ; depth = Math.max(depth + 1, Math.floor(depth * growth))) {
        // Built by concatenation, the text is a rope V8 flattens on first read: flattened here, as a
        // request body arrives flat from JSON.parse, so that cost is not billed to the validator.
        const sql = JSON.parse(JSON.stringify(statement(shape, depth))) as string;
        if (sql.length > bodyCap) break;
        const before = judge.counters.overBudget;
        during.start(); // only while validating: generating the statement is the benchmark's own work
        const started = performance.now();
        const outcome = await (validator === 'query'
          ? guardTenantStatement(sql, 'db_bench', `bench-${n++}`, judge)
          : judgeMigrationSql(sql, `bench-${n++}`, judge)
        ).then(() => 'ok' as const, () => 'refused' as const);
        const ms = performance.now() - started;
        during.stop();
        if (judge.counters.overBudget > before) {
          seen.overBudget++;
          await ready(); // its worker's replacement: not the next statement's time
        } else seen[outcome]++;
        if (ms > seen.max) Object.assign(seen, { max: ms, depth, chars: sql.length });
      }
      worst = Math.max(worst, seen.max);
      rows.push(
        `${shape.padEnd(15)} ${validator.padEnd(8)} ${seen.max.toFixed(1).padStart(8)} ${(seen.max / budgetMs).toFixed(2).padStart(6)}x` +
          `   at depth ${String(seen.depth).padEnd(7)} ${String(seen.chars).padStart(8)} chars   ok ${seen.ok}, refused ${seen.refused}, over budget ${seen.overBudget}`,
      );
    }
  }
  await judge.close();
  rmSync(dir, { recursive: true, force: true });

  const ms = (ns: number) => ns / 1e6;
  const p99Ratio = ms(during.histogram.percentile(99)) / ms(baseline.histogram.percentile(99));
  console.log(`\nvalidator budget ${budgetMs} ms, one worker (bundled), depth x${growth} per step up to the ${bodyCap}-byte body cap\n`);
  console.log('shape           validator  max ms  /budget   (the costliest statement)');
  for (const row of rows) console.log(row);
  console.log(`\nevent loop delay, no parsing:  p50 ${ms(baseline.histogram.percentile(50)).toFixed(2)} ms, p99 ${ms(baseline.histogram.percentile(99)).toFixed(2)} ms, max ${ms(baseline.histogram.max).toFixed(2)} ms`);
  console.log(`event loop delay, during fuzz: p50 ${ms(during.histogram.percentile(50)).toFixed(2)} ms, p99 ${ms(during.histogram.percentile(99)).toFixed(2)} ms, max ${ms(during.histogram.max).toFixed(2)} ms`);
  console.log(`event loop p99 under fuzz vs no parsing: ${p99Ratio.toFixed(2)}x`);
  console.log(`worst validator time vs budget: ${(worst / budgetMs).toFixed(2)}x (${worst.toFixed(1)} ms for ${budgetMs} ms)`);
  const timeOk = worst <= budgetMs + 50;
  const loopOk = ms(during.histogram.percentile(99)) <= 3 * ms(baseline.histogram.percentile(99)) + 1;
  console.log(`goal, budget (+50 ms to stop a worker): ${timeOk ? 'MET' : 'MISSED'}; goal, event loop (p99 within 3x): ${loopOk ? 'MET' : 'MISSED'}`);
}

/**
 * How late a 1 ms interval timer fires, recorded only between start() and stop(). Not
 * monitorEventLoopDelay: re-enabled after a pause, it records the whole pause as one delay.
 */
function delayProbe() {
  const histogram = createHistogram();
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    histogram,
    start() {
      last = performance.now();
      timer = setInterval(() => {
        const now = performance.now();
        histogram.record(Math.max(1, Math.round((now - last - 1) * 1e6)));
        last = now;
      }, 1);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
