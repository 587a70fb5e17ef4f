/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts. Each benchmark measures its baseline in
 * the same run and prints ratios, since absolute times on a shared 2-core machine mean little.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_') && f !== 'stats.ts')
  .map((f) => f.replace(/\.ts$/, ''));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(2);
}
// Benchmarks print their own results; handler logs would drown them.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
const bench = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { main(args: string[]): Promise<void> };
await bench.main(args);
process.exit(0);
