import { describe, expect, it } from 'vitest';
import { deployMetaDb, type MetaDbDeploymentDeps } from '#core/metadb';
import type { HostRecord, HostRunResult } from '#core/ports';

const host: HostRecord = { hostId: 'mysql-1', instanceId: 'i-0123456789abcdef0', endpoint: 'mysql.octodb.internal', port: 3306 };
const FILES = { 'hosts.sql': 'CREATE TABLE hosts (host_id varchar(64) NOT NULL PRIMARY KEY);' };

/**
 * The deployment's steps in order, with a host runner standing in for SSM (the AWS API): each try
 * answers the next of `outcomes` (an exit code, or a thrown error as SSM throws for an agent that
 * is not registered yet). The real push, account and host row are covered by
 * test/integration/metadb-custom-resource.test.ts.
 */
function fixture(outcomes: Array<number | Error>, overrides: Partial<MetaDbDeploymentDeps> = {}) {
  const steps: string[] = [];
  const waits: number[] = [];
  const deps: MetaDbDeploymentDeps = {
    runner: {
      run: async (target, script, timeoutSeconds): Promise<HostRunResult> => {
        steps.push(`push ${target.hostId} ${timeoutSeconds}s ${script.includes('octodb_meta') ? 'octodb_meta' : '?'}`);
        const outcome = outcomes.shift() ?? 0;
        if (outcome instanceof Error) throw outcome;
        return { exitCode: outcome, stdout: '', stderr: outcome ? 'Error 2003: cannot connect' : '' };
      },
    },
    hosts: { registerHost: async (h) => void steps.push(`register ${h.hostId}`) },
    ensureApiAccount: async () => void steps.push('api account'),
    schema: 'octodb_meta',
    files: FILES,
    scriptTimeoutSeconds: 180,
    ...overrides,
  };
  const tries = (attempts: number, deadline?: number) => ({ attempts, delayMs: 20_000, deadline, sleep: async (ms: number) => void waits.push(ms) });
  return { deps, steps, waits, tries };
}

describe('deployMetaDb', () => {
  it('pushes the schema, then brings the API account in step, then registers the host', async () => {
    const { deps, steps } = fixture([0]);
    await deployMetaDb(host, deps);
    expect(steps).toEqual(['push mysql-1 180s octodb_meta', 'api account', 'register mysql-1']);
  });

  it('leaves the API account alone where MetaDB is reached as the admin account', async () => {
    const { deps, steps } = fixture([0], { ensureApiAccount: undefined });
    await deployMetaDb(host, deps);
    expect(steps).toEqual(['push mysql-1 180s octodb_meta', 'register mysql-1']);
  });

  it('tries the push again, 20 s apart, while the host is not reachable yet', async () => {
    const { deps, steps, waits, tries } = fixture([new Error('InvalidInstanceId'), 1, 0]);
    await deployMetaDb(host, { ...deps, pushTries: tries(6) });
    expect(steps).toEqual([...Array(3).fill('push mysql-1 180s octodb_meta'), 'api account', 'register mysql-1']);
    expect(waits).toEqual([20_000, 20_000]);
  });

  it('throws the last failure after its tries, touching neither the account nor the host row', async () => {
    const { deps, steps, waits, tries } = fixture([1, 1, 1, 1, 1, 1, 0]);
    await expect(deployMetaDb(host, { ...deps, pushTries: tries(6) })).rejects.toThrow('MetaDB schema push failed (exit 1): Error 2003: cannot connect');
    expect(steps).toEqual(Array(6).fill('push mysql-1 180s octodb_meta'));
    expect(waits).toHaveLength(5);
  });

  it('tries once by default (local start: a failure is shown at once)', async () => {
    const { deps, steps } = fixture([new Error('bash: skeema: command not found'), 0]);
    await expect(deployMetaDb(host, deps)).rejects.toThrow('skeema: command not found');
    expect(steps).toHaveLength(1);
  });

  it('starts no try after its deadline', async () => {
    const { deps, steps, tries } = fixture([1, 1, 0]);
    await expect(deployMetaDb(host, { ...deps, pushTries: tries(6, Date.now() - 1) })).rejects.toThrow('exit 1');
    expect(steps).toHaveLength(1);
  });

  it('refuses an empty schema directory without running anything (Skeema would push nothing and succeed)', async () => {
    const { deps, steps, tries } = fixture([0], { files: {} });
    await expect(deployMetaDb(host, { ...deps, pushTries: tries(6) })).rejects.toThrow('no table files');
    expect(steps).toEqual([]);
  });
});
