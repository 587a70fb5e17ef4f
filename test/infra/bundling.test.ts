import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OctoFunction } from '../../lib/octo-function.ts';

/**
 * Real esbuild bundling (no Docker) of the house construct, on two functions that carry extra
 * directories: what `npm run synth` does for all ten, kept to two here for speed.
 */
let outdir: string;
const assetDir: Record<string, string> = {};

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'octodb-bundle-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'BundleCheck');
  const common = { memoryMb: 256, timeout: Duration.seconds(10), logRetention: RetentionDays.ONE_WEEK };
  const fns = {
    signup: new OctoFunction(stack, 'Signup', { ...common, name: 'signup', description: 'bundle check', bundleDirs: { 'schemas/templates': 'templates' } }),
    'metadb-migrate': new OctoFunction(stack, 'Migrator', { ...common, name: 'metadb-migrate', description: 'bundle check', bundleDirs: { 'schemas/meta': 'meta' } }),
  };
  app.synth();
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, any>;
  for (const [name, fn] of Object.entries(fns)) {
    const key: string = resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Code.S3Key;
    assetDir[name] = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
  }
}, 120_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('bundling with the local esbuild', () => {
  it('emits an ESM bundle with its source map', () => {
    for (const dir of Object.values(assetDir)) {
      expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['index.mjs', 'index.mjs.map']));
    }
  });

  it('copies the tenant templates into the signup bundle and the MetaDB schema into the migrator bundle', () => {
    expect(readdirSync(join(assetDir.signup!, 'templates', 'default')).sort()).toEqual(readdirSync('schemas/templates/default').sort());
    expect(readdirSync(join(assetDir['metadb-migrate']!, 'meta')).sort()).toEqual(readdirSync('schemas/meta').sort());
    expect(existsSync(join(assetDir.signup!, 'meta'))).toBe(false);
  });

  it('loads on this Node version (20) and exports the handler', async () => {
    for (const dir of Object.values(assetDir)) {
      const mod = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler?: unknown };
      expect(typeof mod.handler).toBe('function');
    }
  });
});
