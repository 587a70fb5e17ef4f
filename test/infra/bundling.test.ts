import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OctoFunction } from '../../lib/octo-function.ts';
import { PASSWORD_WORKER, type PasswordJob, WorkerPasswordHasher } from '#adapters/worker-password-hasher';

/**
 * Real esbuild bundling (no Docker) of the house construct, on two functions that carry extra
 * directories, the query function with its statement judge's worker and the token function (its
 * bundle is its own password worker's entry): what `npm run synth` does for all of them, kept to
 * four here for speed.
 */
type BundledHandler = (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;
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
    query: new OctoFunction(stack, 'Query', { ...common, name: 'query', description: 'bundle check', judgesStatements: true }),
    token: new OctoFunction(stack, 'Token', { ...common, name: 'token', description: 'bundle check' }),
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

  it('leaves the OpenAPI generator (lambdas/shared/openapi.ts, for bin/ and tests) out of every bundle', () => {
    for (const dir of Object.values(assetDir)) expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).not.toContain('x-action-responses');
  });

  it('bundles the statement judge worker beside the query handler only', () => {
    expect(readdirSync(assetDir.query!)).toEqual(expect.arrayContaining(['index.mjs', 'statement-judge-worker.mjs']));
    expect(existsSync(join(assetDir.signup!, 'statement-judge-worker.mjs'))).toBe(false);
  });

  it('judges /query statements in the bundle on its worker, refusing one past the budget', async () => {
    // The function's parts are made from the environment at first use; the budget is generous so only cost exceeds it.
    process.env.OCTODB_VALIDATOR_BUDGET_MS = '2000';
    const { handler } = (await import(pathToFileURL(join(assetDir.query!, 'index.mjs')).href)) as { handler: BundledHandler };
    const ask = async (query: string) => {
      const event = { body: JSON.stringify({ query }), headers: {}, requestContext: { authorizer: { tenant_id: 'bundle-check', db_id: 'a'.repeat(32) } } };
      const res = await handler(event, {});
      return { status: res.statusCode, error: (JSON.parse(res.body) as { error: string }).error };
    };
    let costly = 'id';
    for (let i = 0; i < 20; i++) costly = `CASE (${costly}) WHEN 1 THEN 2 END`;
    expect(await ask('SELECT SLEEP(1) FROM customers')).toEqual({ status: 403, error: 'Prohibited operation detected: SLEEP' });
    expect(await ask(`SELECT ${costly} FROM customers`)).toEqual({ status: 403, error: expect.stringMatching(/too costly to validate/) });
  }, 60_000);

  it('loads on this Node version (20) and exports the handler', async () => {
    // The token bundle is loaded by Node itself below (as its worker), without vitest's slow transform.
    for (const dir of [assetDir.signup!, assetDir['metadb-migrate']!]) {
      const mod = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler?: unknown };
      expect(typeof mod.handler).toBe('function');
    }
  }, 120_000); // vitest transforms each multi-megabyte bundle it imports

  it("serves as the token function's own password worker: bcrypt checks answered from the one-file bundle", async () => {
    const bundle = pathToFileURL(join(assetDir.token!, 'index.mjs'));
    const hash = bcrypt.hashSync('correct horse', 4);
    // The bundle started as a worker, spoken to directly…
    const worker = new Worker(bundle, { workerData: { role: PASSWORD_WORKER } });
    try {
      const ask = (job: PasswordJob) =>
        new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.postMessage(job);
        });
      expect(await ask({ op: 'verify', password: 'correct horse', hash })).toEqual({ result: true });
      expect(await ask({ op: 'verify', password: 'wrong horse', hash })).toEqual({ result: false });
    } finally {
      await worker.terminate();
    }
    // …and through the pool, as the bundled wiring starts it (its script is the bundle's own URL).
    const pool = new WorkerPasswordHasher({ workers: 1, maxQueue: 1 }, bundle);
    try {
      expect(await pool.verify('correct horse', hash)).toBe(true);
      expect(bcrypt.compareSync('pw', await pool.hash('pw', 5))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
