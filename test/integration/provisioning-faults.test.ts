import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashHostRunner } from '#adapters/bash-host-runner';
import { MysqlMetaStore } from '#adapters/mysql-meta-store';
import { provisionRoot } from '#adapters/roots';
import { databaseUser } from '#core/ids';
import type { HostRunner } from '#core/ports';
import { provisionDatabase } from '#core/provisioning';
import { parseMysqlUrl } from '#shared/config';
import { handler as provisionHandler } from '../../lambdas/provision/handler.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { TEST_CA_FILE, TEST_TLS } from '../support/mysql-tls.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// Issue 11, finding 4: a signup must settle within a minute of a fault ending, never wait 15 minutes.
// The lease is this suite's own (5 s) so that "ran out" needs no long wait; the bounds are the issue's.
const LEASE_SECONDS = 5;
const SETTLES_WITHIN_MS = 60_000;

let octo: TestOctoDb;
beforeAll(async () => {
  // The sweep runs only when a test (or a start) says so: each test decides who takes a claim over.
  octo = await startTestOctoDb({ OCTODB_PROVISION_LEASE_SECONDS: String(LEASE_SECONDS), OCTODB_PROVISION_SWEEP_SECONDS: '0' });
});
afterAll(async () => octo?.close());

const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
const row = async (dbId: string) => {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT status, status_reason, claimed_by FROM ${meta('tenant_databases')} WHERE db_id = ?`, [dbId]);
  return rows[0] as { status: string; status_reason: string | null; claimed_by: string | null };
};
const readyWithinBound = (dbId: string) =>
  waitFor(async () => (await row(dbId)).status === 'ready', { timeoutMs: SETTLES_WITHIN_MS, intervalMs: 50, what: `database ${dbId} to be ready` });

/** A further database of `tenantId` left `provisioning`, claimed by `owner` that many seconds ago (or never claimed). */
async function stalledDatabase(tenantId: string, claim?: { owner: string; secondsAgo: number }): Promise<string> {
  const dbId = Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
  await octo.admin.query(
    `INSERT INTO ${meta('tenant_databases')} (db_id, tenant_id, host_id, template, status, mysql_user, claimed_by, claimed_at, created_at)
     VALUES (?, ?, 'local', 'default', 'provisioning', ?, ?, IF(? IS NULL, NULL, CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND), CURRENT_TIMESTAMP(3) - INTERVAL 1 HOUR)`,
    [dbId, tenantId, databaseUser(dbId), claim?.owner ?? null, claim?.secondsAgo ?? null, claim?.secondsAgo ?? null],
  );
  return dbId;
}

/** The tenant's token works and /query answers in its database: ready means usable. */
async function tenantCanQuery(tenant: { email: string; password: string }): Promise<void> {
  const token = await octo.token(tenant.email, tenant.password);
  expect(await octo.post('/query', { query: 'SELECT COUNT(*) AS n FROM customers' }, token)).toMatchObject({ status: 200 });
}

/** The real host runner, or one whose MySQL is unreachable (a port nobody listens on) until healed. */
function flakyHostRunner(real: HostRunner): HostRunner & { heal(): void; refused: number; close(): Promise<void> } {
  const unreachable = new BashHostRunner(parseLogin(), { host: '127.0.0.1', port: 1, caFile: TEST_CA_FILE });
  let healed = false;
  const runner = {
    refused: 0,
    heal: () => void (healed = true),
    run: (...args: Parameters<HostRunner['run']>) => {
      if (healed) return real.run(...args);
      runner.refused++;
      return unreachable.run(...args);
    },
    close: () => unreachable.close(),
  };
  return runner;
}
const parseLogin = () => parseMysqlUrl(MYSQL_URL);

describe.skipIf(!serversUp)('provisioning through faults (issue 11, finding 4)', () => {
  it("waits out the host's MySQL being unreachable, with backoff, and the signup ends ready", async () => {
    const flaky = flakyHostRunner(await octo.parts.get('hostRunner'));
    const restore = octo.parts.override({ hostRunner: flaky });
    try {
      const tenant = await octo.signUp();
      await waitFor(() => flaky.refused >= 3, { what: 'three refused provisioning runs' });
      expect((await row(tenant.db_id)).status).toBe('provisioning'); // not `failed`: the outage is temporary
      flaky.heal();
      await readyWithinBound(tenant.db_id);
      await tenantCanQuery(tenant);
    } finally {
      restore();
      await flaky.close();
    }
  });

  it('waits out MetaDB being unreachable for its claim, and ends ready', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const dbId = await stalledDatabase(tenant.tenant_id);
    const real = await octo.parts.get('meta');
    const deadPool = createPool({ ...parseLogin(), port: 1, ssl: TEST_TLS, connectTimeout: 1000 });
    const unreachable = new MysqlMetaStore(deadPool);
    let healed = false;
    let refused = 0;
    // MetaDB as seen by this provisioning: unreachable (a real refused connection) until healed.
    const metaDb = new Proxy(real, {
      get: (target, name: keyof MysqlMetaStore) => {
        const chosen = healed ? target : unreachable;
        const value = chosen[name];
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (!healed) refused++;
          return (value as (...a: unknown[]) => unknown).apply(chosen, args);
        };
      },
    });
    try {
      const outcome = provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), meta: metaDb, claims: metaDb });
      await waitFor(() => refused >= 3, { what: 'three refused MetaDB calls' });
      healed = true;
      expect(await outcome).toBe('ready');
      expect((await row(dbId)).status).toBe('ready');
    } finally {
      await deadPool.end();
    }
  });

  it("takes over at once the claim of a local process that is gone, however fresh, and leaves a live holder's alone", async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const deadPid = spawnSync('true').pid!;
    const orphaned = await stalledDatabase(tenant.tenant_id, { owner: `local:${hostname()}:${deadPid}:0badc0de`, secondsAgo: 1 });
    const live = await stalledDatabase(tenant.tenant_id, { owner: `local:${hostname()}:${process.ppid}:0badc0de`, secondsAgo: 1 });
    const answer = await provisionHandler({ sweep: true });
    expect(answer).toEqual({ outcomes: { [orphaned]: 'ready' }, erasures: {}, baseBackups: expect.objectContaining({ failed: 0 }) });
    expect((await row(live)).status).toBe('provisioning');
    await octo.admin.query(`UPDATE ${meta('tenant_databases')} SET status = 'failed' WHERE db_id = ?`, [live]);
  });

  it("takes back its own claim on a retry (it is not skipped as fresh), and another worker's once the lease set runs out", async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const self = (await octo.parts.get('claimOwners')).self;
    const own = await stalledDatabase(tenant.tenant_id, { owner: self, secondsAgo: 1 });
    expect(await provisionDatabase(own, await provisionRoot(octo.parts))).toBe('ready');

    // A Lambda's claim (its end is never seen): held while fresh, free once not renewed for the lease.
    const lapsed = await stalledDatabase(tenant.tenant_id, { owner: 'lambda:4a3b', secondsAgo: LEASE_SECONDS + 1 });
    const fresh = await stalledDatabase(tenant.tenant_id, { owner: 'lambda:5c6d', secondsAgo: 0 });
    expect(await provisionHandler({ sweep: true })).toEqual({ outcomes: { [lapsed]: 'ready' }, erasures: {}, baseBackups: expect.objectContaining({ failed: 0 }) });
    expect((await row(fresh)).status).toBe('provisioning');
    await octo.admin.query(`UPDATE ${meta('tenant_databases')} SET status = 'failed' WHERE db_id = ?`, [fresh]);
  });

  it('provisions every stalled database in one sweep, not three a run', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const stalled = await Promise.all(Array.from({ length: 7 }, () => stalledDatabase(tenant.tenant_id)));
    const { outcomes } = (await provisionHandler({ sweep: true })) as { outcomes: Record<string, string> };
    expect(Object.fromEntries(stalled.map((id) => [id, outcomes[id]]))).toEqual(Object.fromEntries(stalled.map((id) => [id, 'ready'])));
  });

  it("keeps renewing its claim while a slow script runs: a sweep meanwhile does not take it over", async () => {
    const real = await octo.parts.get('hostRunner');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const slow: HostRunner = {
      run: async (...args) => {
        started = true;
        await held; // the script "runs" until the test has swept past the lease
        return real.run(...args);
      },
    };
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const dbId = await stalledDatabase(tenant.tenant_id);
    const outcome = provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), hostRunner: slow });
    await waitFor(() => started, { what: 'the slow script to start' });
    // Time passing is the subject: a lease and a bit, which an unrenewed claim would not survive.
    await new Promise((r) => setTimeout(r, (LEASE_SECONDS + 1) * 1000));
    const claimedBy = (await row(dbId)).claimed_by;
    // Another process's sweep: it sees the claim renewed, not lapsed.
    const other = new MysqlMetaStore(await octo.parts.get('pool'));
    const [candidate] = (await other.listProvisioning(LEASE_SECONDS, 500)).filter((c) => c.dbId === dbId);
    expect(candidate).toEqual({ dbId, owner: claimedBy, expired: false });
    expect(await other.claimProvisioning(dbId, { owner: 'lambda:other', leaseSeconds: LEASE_SECONDS })).toBe(false);
    release();
    expect(await outcome).toBe('ready');
  });
});

/**
 * The crash itself: a local OctoDB (bin/local.ts in a process of its own) SIGKILLed while its
 * provisioning script runs, then started again; the restarted one takes the signup over at start.
 */
describe.skipIf(!serversUp)('a local OctoDB killed mid-provisioning (issue 11, finding 4)', () => {
  const work = mkdtempSync(join(tmpdir(), 'octodb-crash-'));
  // A skeema that takes a minute for a template push (the MetaDB's push is left alone): the window to kill in.
  const slowBin = join(work, 'bin');
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  const startLocal = async (extraPath = ''): Promise<{ child: ChildProcess; url: string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
      env: {
        ...process.env,
        PATH: `${extraPath}${process.env.PATH}`,
        PORT: '0',
        OCTODB_MYSQL_URL: `${MYSQL_URL.replace(/\/[^/]*$/, '')}/${octo.metaDb}`,
        OCTODB_DYNALITE_DIR: mkdtempSync(join(work, 'dynalite-')),
        OCTODB_LOG_DEAD_LETTER_FILE: join(work, `dead-letters-${children.length}.jsonl`),
        OCTODB_PROVISION_LEASE_SECONDS: '30',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await waitFor(() => /listening on (\S+)/.exec(out)?.[1], { timeoutMs: 60_000, intervalMs: 50, what: 'the local OctoDB to listen' });
    return { child, url };
  };

  it('the restarted OctoDB takes over the signup its killed process had claimed, within a minute', async () => {
    spawnSync('mkdir', ['-p', slowBin]);
    writeFileSync(join(slowBin, 'skeema'), `#!/bin/sh\ncase "$PWD" in */template) sleep 60;; esac\nexec ${spawnSync('sh', ['-c', 'command -v skeema'], { encoding: 'utf8' }).stdout.trim()} "$@"\n`);
    chmodSync(join(slowBin, 'skeema'), 0o755);
    const first = await startLocal(`${slowBin}:`);
    const email = `crash-${Date.now()}@example.com`;
    const signup = await fetch(`${first.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Crash', email, password: 'pw-crash-0123' }),
    });
    expect(signup.status).toBe(202);
    const { db_id: dbId } = (await signup.json()) as { db_id: string };
    await waitFor(async () => (await row(dbId)).claimed_by?.startsWith(`local:${hostname()}:${first.child.pid}:`), { what: 'the first process to claim it' });

    first.child.kill('SIGKILL'); // its script (own process group) lives on, as after a real crash
    await new Promise((resolve) => first.child.once('exit', resolve));
    const restarted = await startLocal();
    await readyWithinBound(dbId);
    await tenantCanQuery({ email, password: 'pw-crash-0123' });
    restarted.child.kill('SIGTERM');
  });
});
