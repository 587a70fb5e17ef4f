import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BashHostRunner, dockerClientEnv } from '#adapters/bash-host-runner';
import type { HostRecord } from '#core/ports';

const host = { hostId: 'local' } as HostRecord;
const login = { host: '127.0.0.1', port: 3306, user: 'octodb', password: 'secret-pw', database: 'octodb_meta' };

async function childEnv(commandEnv?: Record<string, string>): Promise<Record<string, string>> {
  const runner = new BashHostRunner(login, { host: 'mysql', port: 3307, caFile: '/etc/ca.pem' }, ['bash', '-s'], commandEnv);
  try {
    const result = await runner.run(host, 'env', 10);
    expect(result.exitCode).toBe(0);
    return Object.fromEntries(result.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  } finally {
    await runner.close();
  }
}

describe('BashHostRunner environment', () => {
  it("picks the docker client's engine settings and its config dir under the real HOME", () => {
    const env = dockerClientEnv({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock', DOCKER_CONTEXT: 'rootless', HOME: '/home/dev', OCTODB_JWT_SECRET: 'x' });
    expect(env).toEqual({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock', DOCKER_CONTEXT: 'rootless', DOCKER_CONFIG: '/home/dev/.docker' });
    expect(dockerClientEnv({ DOCKER_CONFIG: '/etc/docker-cfg', HOME: '/home/dev' })).toEqual({ DOCKER_CONFIG: '/etc/docker-cfg' });
  });

  it('hands the command its own settings and the script its database address, with a private HOME', async () => {
    const env = await childEnv({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock', DOCKER_CONFIG: '/home/dev/.docker' });
    expect(env.DOCKER_HOST).toBe('unix:///run/user/1000/docker.sock');
    expect(env.DOCKER_CONFIG).toBe('/home/dev/.docker');
    expect(env.OCTODB_DB_HOST).toBe('mysql');
    expect(env.OCTODB_DB_PORT).toBe('3307');
    expect(env.HOME).toMatch(/octodb-host-/);
  });

  it('passes none of the process secrets to host scripts', async () => {
    process.env.OCTODB_TEST_CANARY_SECRET = 'canary-value';
    try {
      const env = await childEnv();
      expect(Object.keys(env).filter((name) => name.startsWith('OCTODB_')).sort()).toEqual(['OCTODB_DB_CA', 'OCTODB_DB_HOST', 'OCTODB_DB_PORT']);
      expect(Object.keys(env).filter((name) => name.startsWith('DOCKER_'))).toEqual([]);
      expect(JSON.stringify(env)).not.toContain('secret-pw');
    } finally {
      delete process.env.OCTODB_TEST_CANARY_SECRET;
    }
  });
});

describe('BashHostRunner time limit', () => {
  /** Running, not a zombie awaiting its reaper (a killed process stays one for a moment). */
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  it('kills the whole process group at the limit, so an orphan holding the pipes neither runs on nor stalls the run', async () => {
    const runner = new BashHostRunner(login, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' });
    try {
      // A background child that keeps stdout open: killing bash alone left it running and the run waiting on it.
      const result = await runner.run(host, '(exec sleep 300) &\necho "child $!"\nsleep 300\n', 1);
      expect(result.timedOut).toBe(true);
      expect(result.stderr).toMatch(/time limit of 1s/);
      const pid = Number(/child (\d+)/.exec(result.stdout)?.[1]);
      expect(pid).toBeGreaterThan(0);
      await expect.poll(() => alive(pid), { timeout: 5000 }).toBe(false);
    } finally {
      await runner.close();
    }
  });

  it('ends what a finished script left running in the background', async () => {
    const runner = new BashHostRunner(login, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' });
    try {
      const result = await runner.run(host, '(exec sleep 300) &\necho "child $!"\n', 30);
      expect(result).toMatchObject({ exitCode: 0 });
      expect(result.timedOut).toBeUndefined();
      await expect.poll(() => alive(Number(/child (\d+)/.exec(result.stdout)?.[1])), { timeout: 5000 }).toBe(false);
    } finally {
      await runner.close();
    }
  });
});

describe('BashHostRunner private HOME', () => {
  /** A pid no process has any more: a child that ran and was reaped. */
  const deadPid = () => spawnSync('true').pid!;
  const cnfHome = (name: string) => {
    const home = join(tmpdir(), name);
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, '.my.cnf'), '[client]\nuser=octodb\npassword=secret-pw\n', { mode: 0o600 });
    return home;
  };

  it("removes the ~/.my.cnf a killed process left behind when the next runner starts, and keeps a live process's", async () => {
    const orphan = cnfHome(`octodb-host-${deadPid()}-abc123`);
    const live = cnfHome(`octodb-host-${process.ppid}-def456`); // the runner of tests' parent: alive
    try {
      const runner = new BashHostRunner(login, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' });
      await runner.close();
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(join(live, '.my.cnf'))).toBe(true);
    } finally {
      rmSync(orphan, { recursive: true, force: true });
      rmSync(live, { recursive: true, force: true });
    }
  });

  it('stops the host scripts a killed process left running before removing their HOME', async () => {
    const orphanHome = cnfHome(`octodb-host-${deadPid()}-ghi789`);
    const orphan = spawn('bash', ['-c', 'sleep 60'], { env: { PATH: process.env.PATH, HOME: orphanHome }, detached: true, stdio: 'ignore' });
    const ended = new Promise<NodeJS.Signals | null>((resolve) => orphan.once('exit', (_code, signal) => resolve(signal)));
    try {
      await new BashHostRunner(login, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' }).close();
      expect(await ended).toBe('SIGKILL');
      expect(existsSync(orphanHome)).toBe(false);
    } finally {
      orphan.kill('SIGKILL');
      rmSync(orphanHome, { recursive: true, force: true });
    }
  });

  it('writes the login under a HOME named after its process, gone with close()', async () => {
    const runner = new BashHostRunner(login, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' });
    const { stdout } = await runner.run(host, 'echo "$HOME"; cat "$HOME/.my.cnf"', 10);
    const home = stdout.split('\n')[0]!;
    expect(home).toContain(`octodb-host-${process.pid}-`);
    expect(stdout).toContain('password=secret-pw');
    await runner.close();
    expect(existsSync(home)).toBe(false);
  });

  it('leaves no ~/.my.cnf behind when its process exits without closing the runner', () => {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', `import('#adapters/bash-host-runner').then(({ BashHostRunner }) => { const r = new BashHostRunner(${JSON.stringify(login)}, { host: '127.0.0.1', port: 3306, caFile: '/etc/ca.pem' }); console.log(r.home); process.exit(3); })`],
      { encoding: 'utf8' },
    );
    expect(child.status).toBe(3);
    expect(child.stdout.trim()).toMatch(/octodb-host-\d+-/);
    expect(existsSync(child.stdout.trim())).toBe(false);
  });
});
