import { afterEach, describe, expect, it } from 'vitest';
import { BashHostRunner } from '#adapters/bash-host-runner';
import type { HostRecord } from '#core/ports';

const host = { hostId: 'local' } as HostRecord;
const login = { host: '127.0.0.1', port: 3306, user: 'octodb', password: 'secret-pw', database: 'octodb_meta' };

describe('BashHostRunner environment', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  const childEnv = async (): Promise<Record<string, string>> => {
    const runner = new BashHostRunner(login, { host: 'mysql', port: 3307 });
    try {
      const result = await runner.run(host, 'env', 10);
      expect(result.exitCode).toBe(0);
      return Object.fromEntries(result.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    } finally {
      await runner.close();
    }
  };

  it('hands the docker client its engine settings and config dir, and the script its database address', async () => {
    process.env.DOCKER_HOST = 'unix:///run/user/1000/docker.sock';
    process.env.DOCKER_CONTEXT = 'rootless';
    process.env.HOME = '/home/dev';
    const env = await childEnv();
    expect(env.DOCKER_HOST).toBe('unix:///run/user/1000/docker.sock');
    expect(env.DOCKER_CONTEXT).toBe('rootless');
    expect(env.DOCKER_CONFIG).toBe('/home/dev/.docker');
    expect(env.OCTODB_DB_HOST).toBe('mysql');
    expect(env.OCTODB_DB_PORT).toBe('3307');
    expect(env.HOME).not.toBe('/home/dev');
  });

  it('passes none of the process secrets to host scripts', async () => {
    process.env.OCTODB_JWT_SECRET = 'jwt-secret-value';
    process.env.OCTODB_DATA_KEY = 'data-key-value';
    const env = await childEnv();
    expect(Object.keys(env).filter((name) => name.startsWith('OCTODB_')).sort()).toEqual(['OCTODB_DB_HOST', 'OCTODB_DB_PORT']);
    expect(JSON.stringify(env)).not.toContain('secret-pw');
  });
});
