/**
 * `npm run bench -- table-tokens [--rounds 50]`
 *
 * The /migrate token check (core/table-tokens.ts) must stay linear in the statement's length: it
 * decides safety for every statement, including those the parser cannot read. Per shape, the
 * statement grows from 1 KB to the 64 KB body cap; printed: the check's time per KB at each size
 * against its time per KB at 1 KB, measured first in the same run (linear: ≈1×), and the
 * parser's time on the same text for scale. Goal: every ratio under 3×.
 */
import { parseArgs } from 'node:util';

const CAP = 64 * 1024;

/** Shapes that grow one way each: columns, nested expressions, long strings, partitions, indexes, commas, dots. */
const SHAPES: Record<string, (n: number) => string> = {
  'many columns': (n) => `CREATE TABLE t (${Array.from({ length: n }, (_, i) => `c${i} varchar(20) NOT NULL DEFAULT 'x'`).join(', ')}) ENGINE=InnoDB;`,
  'long generated expressions': (n) => `CREATE TABLE t (a int, b int AS (${Array.from({ length: n }, (_, i) => `(a + ${i}) * 2`).join(' + ')}) VIRTUAL);`,
  'nested parentheses (depth 60)': (n) => `CREATE TABLE t (a int, ${Array.from({ length: Math.max(1, n >> 4) }, (_, i) => `b${i} int DEFAULT ${'('.repeat(60)}${i}${')'.repeat(60)}`).join(', ')});`,
  'long string defaults': (n) => `CREATE TABLE t (a varchar(60000) DEFAULT '${"it''s ".repeat(n)}');`,
  'partitions': (n) => `CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id) (${Array.from({ length: n }, (_, i) => `PARTITION p${i} VALUES LESS THAN (${(i + 1) * 10}) ENGINE = InnoDB`).join(', ')});`,
  'indexes': (n) => `CREATE TABLE t (a int, b int, ${Array.from({ length: n }, (_, i) => `KEY ix_${i} (a, b)`).join(', ')});`,
  'empty definitions (refused at the first)': (n) => `CREATE TABLE t (a int${','.repeat(n)});`,
  'numbers with dots': (n) => `CREATE TABLE t (a decimal(9,2) DEFAULT (${Array.from({ length: n }, (_, i) => `${i}.5`).join(' + ')}));`,
};

/** The longest statement of a shape that fits in `bytes`. */
function sized(shape: (n: number) => string, bytes: number): string {
  let lo = 1;
  let hi = 1;
  while (shape(hi).length < bytes) hi *= 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (shape(mid).length <= bytes) lo = mid;
    else hi = mid - 1;
  }
  return shape(lo);
}

/** The fastest of `rounds` runs per KB: on a shared machine the minimum is what the code costs, the rest is waiting for a core. */
function timePerKb(fn: (s: string) => unknown, sql: string, rounds: number): number {
  for (let r = 0; r < 3; r++) fn(sql);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    fn(sql);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best / (sql.length / 1024);
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '50' } } });
  const rounds = Number(values.rounds);
  const { checkTableTokens } = await import('#core/table-tokens');
  const parserModule = (await import('node-sql-parser/build/mariadb.js')).default;
  const parser = new parserModule.Parser();
  const parse = (sql: string) => {
    try {
      return parser.astify(sql.slice(0, -1), { database: 'MariaDB' });
    } catch {
      return undefined;
    }
  };
  const sizes = [1024, 4096, 16_384, CAP];
  let worst = 0;
  console.log(`token check, fastest time per KB of ${rounds} runs against 1 KB of the same shape; parser ms for the 64 KB text`);
  for (const [name, shape] of Object.entries(SHAPES)) {
    const texts = sizes.map((bytes) => sized(shape, bytes).slice(0, -1));
    const base = timePerKb(checkTableTokens, texts[0]!, rounds * 4);
    const ratios = texts.map((t) => timePerKb(checkTableTokens, t, rounds) / base);
    worst = Math.max(worst, ...ratios);
    const largest = texts.at(-1)!;
    const tokenMs = (timePerKb(checkTableTokens, largest, rounds) * largest.length) / 1024;
    const parseStart = process.hrtime.bigint();
    parse(`${largest};`);
    const parseMs = Number(process.hrtime.bigint() - parseStart) / 1e6;
    console.log(
      `${name.padEnd(42)} ${ratios.map((r, i) => `${sizes[i]! / 1024} KB ${r.toFixed(2)}×`).join('  ')}   64 KB: tokens ${tokenMs.toFixed(2)} ms, parser ${parseMs.toFixed(1)} ms`,
    );
  }
  console.log(`worst per-KB ratio ${worst.toFixed(2)}× (goal < 3×: linear)`);
}
