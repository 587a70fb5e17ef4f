import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { siteRoutes } from '#adapters/static-site';
import type { GatewayRoute } from '#shared/http-api';
import { ROOT } from './octo-function.ts';

/** Builds the web portal (lib/portal: Vite + Preact) into a fresh directory (about 2 s); throws with Vite's words when it fails. */
export function buildPortal(): string {
  const outDir = mkdtempSync(join(tmpdir(), 'octodb-portal-'));
  const vite = join(ROOT, 'node_modules', '.bin', 'vite');
  const run = spawnSync(vite, ['build', '--config', join(ROOT, 'lib', 'portal', 'vite.config.ts'), '--outDir', outDir, '--emptyOutDir'], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the web portal did not build: ${run.stderr || run.stdout || run.error?.message}`);
  return outDir;
}

let built: GatewayRoute[] | undefined;

/**
 * The portal built at synth, as the functions are bundled then, as the routes the API's own stage
 * answers (lib/api.ts). Built once per process; a failed build fails the synth.
 */
export function portalRoutes(): GatewayRoute[] {
  if (built) return built;
  const dir = buildPortal();
  built = siteRoutes(dir); // read into memory: the directory is not needed after
  rmSync(dir, { recursive: true, force: true });
  if (!built) throw new Error('the web portal build has no index.html');
  return built;
}
