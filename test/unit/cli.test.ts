import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiUrl } from '../../bin/cli/api.ts';
import { param } from '../../bin/cli/commands/data.ts';
import { readSql } from '../../bin/cli/commands/migrate.ts';
import { EXIT } from '../../bin/cli/exit.ts';
import { configDir, Sessions } from '../../bin/cli/session.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'octodb-cli-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('octodb CLI without a server', () => {
  it('documents in docs/cli.md exactly the exit codes bin/cli/exit.ts declares', () => {
    const documented = [...readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8').matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(Object.fromEntries(documented)).toEqual(EXIT);
    expect(documented).toHaveLength(Object.keys(EXIT).length);
  });

  it.each([
    ['42', 42],
    ['1.5', 1.5],
    ['true', true],
    ['null', null],
    ['"42"', '42'],
    ['Ada', 'Ada'],
    ['01234', '01234'],
    ['[1,2]', '[1,2]'],
    ['{"a":1}', '{"a":1}'],
    ['', ''],
  ])('reads --params %j as %j', (text, value) => {
    expect(param(text)).toEqual(value);
  });

  it.each([
    [{ XDG_CONFIG_HOME: '/x/config', HOME: '/home/u' }, '/x/config/octodb'],
    [{ XDG_CONFIG_HOME: 'relative/dir', HOME: '/home/u' }, '/home/u/.config/octodb'],
    [{ HOME: '/home/u' }, '/home/u/.config/octodb'],
  ])('keeps the session in the config dir of %j', (env, dir) => {
    expect(configDir(env)).toBe(dir);
  });

  it('writes the session file with mode 0600 in a 0700 dir, even over a file someone widened', async () => {
    const home = join(scratch, 'xdg');
    const sessions = new Sessions({ XDG_CONFIG_HOME: home });
    await sessions.save('http://a', { email: 'a@example.com', token: 't1', expires_at: '2030-01-01T00:00:00.000Z' });
    expect(statSync(sessions.file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'octodb')).mode & 0o777).toBe(0o700);
    chmodSync(sessions.file, 0o644);
    await sessions.save('http://b', { email: 'b@example.com', token: 't2', expires_at: '2030-01-01T00:00:00.000Z' });
    expect(statSync(sessions.file).mode & 0o777).toBe(0o600);
    expect(await sessions.read()).toEqual({
      current: 'http://b',
      sessions: { 'http://a': expect.objectContaining({ token: 't1' }), 'http://b': expect.objectContaining({ token: 't2' }) },
    });
    expect(await sessions.remove('http://b')).toBe(true);
    expect((await sessions.read()).current).toBeUndefined();
    // A file that is not JSON reads as no session, and the next login writes it anew.
    writeFileSync(sessions.file, '{not json');
    expect(await sessions.read()).toEqual({ sessions: {} });
  });

  it.each([
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000/'],
    ['https://abc.execute-api.eu-west-1.amazonaws.com/prod', 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/'],
    ['https://abc.example.com/prod///', 'https://abc.example.com/prod/'],
  ])('takes %s as the API at %s (a stage path kept)', (text, href) => {
    expect(apiUrl(text).href).toBe(href);
  });

  it.each(['127.0.0.1:3000', 'ftp://example.com', 'http://u:p@example.com', 'http://example.com/?x=1', 'not a url'])('refuses %j as the API URL (USAGE)', (text) => {
    expect(() => apiUrl(text)).toThrow(expect.objectContaining({ exit: 'USAGE' }));
  });

  it("reads a directory's .sql files in name order, and refuses more than any API takes before reading it", async () => {
    const dir = join(scratch, 'sql');
    mkdirSync(dir);
    writeFileSync(join(dir, '02-b.sql'), 'B;');
    writeFileSync(join(dir, '01-a.SQL'), 'A;');
    writeFileSync(join(dir, 'notes.txt'), 'not sql');
    expect(await readSql(dir)).toBe('A;\nB;');
    writeFileSync(join(dir, '03-big.sql'), 'x'.repeat(1024 * 1024));
    await expect(readSql(dir)).rejects.toMatchObject({ exit: 'USAGE', message: expect.stringMatching(/at most 64 KB/) });
    await expect(readSql(join(dir, 'missing.sql'))).rejects.toMatchObject({ exit: 'USAGE', message: expect.stringMatching(/ENOENT/) });
  });
});
