import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName } from '#core/ids';
import { EXIT } from '../../bin/cli/exit.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/** Each run starts node and tsx: seconds on a loaded machine, and a walkthrough runs a dozen. */
const LONG = 180_000;

/** The real CLI as a user runs it: a child process through its package.json bin shim, over real HTTP. */
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'cli', 'octodb.mjs');
const ITEMS = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(100) NOT NULL, note varchar(20) NULL, PRIMARY KEY (id));\n';
const PASSWORD = 'correct horse battery';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let octo: TestOctoDb;
const scratch = mkdtempSync(join(tmpdir(), 'octodb-cli-'));
beforeAll(async () => {
  if (serversUp) octo = await startTestOctoDb();
});
afterAll(async () => {
  await octo?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A user of their own: a fresh config dir. */
const newHome = () => mkdtempSync(join(scratch, 'home-'));

/** Runs `octodb args` with the config dir `home` (stdin is no terminal, as in a script). */
function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<Run> & { child: ReturnType<typeof spawn>; out: () => string } {
  const base = { ...process.env };
  for (const name of ['OCTODB_URL', 'OCTODB_TOKEN', 'OCTODB_PASSWORD']) delete base[name];
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...base, XDG_CONFIG_HOME: home, OCTODB_URL: octo.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return Object.assign(done, { child, out: () => stdout });
}

const json = <T = Record<string, unknown>>(run: Run): T => JSON.parse(run.stdout) as T;
const sessionFile = (home: string) => join(home, 'octodb', 'session.json');
const storedToken = (home: string) => (JSON.parse(readFileSync(sessionFile(home), 'utf8')) as { sessions: Record<string, { token: string }> }).sessions[octo.url]!.token;

/** A directory of desired tables, as `migrate apply <dir>` reads it. */
function sqlDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'sql-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Signs up through the CLI and returns the user's config dir and ids. */
async function signedUp(extra: string[] = []) {
  const home = newHome();
  const email = uniqueEmail();
  const run = await cli(home, ['signup', '--name', 'Ada', '--email', email, '--password', PASSWORD, '--json', ...extra]);
  expect(run.code, run.stderr).toBe(EXIT.OK);
  return { home, email, ...json<{ tenant_id: string; db_id: string; status: string }>(run) };
}

describe.skipIf(!serversUp)('octodb CLI: a tenant from signup to a row read back', () => {
  it('signs up (waiting until ready), migrates with --wait, inserts and reads the row back, as tables and as JSON', async () => {
    const { home, email, db_id, status } = await signedUp();
    expect(status).toBe('ready');
    // The token is kept in the config dir, readable by its owner only.
    expect(statSync(sessionFile(home)).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'octodb')).mode & 0o777).toBe(0o700);

    const login = await cli(home, ['login', '--email', email, '--password', PASSWORD]);
    expect(login.code, login.stderr).toBe(EXIT.OK);
    expect(login.stdout).toContain(`Signed in to ${octo.url} as ${email}`);

    const whoami = await cli(home, ['whoami', '--json']);
    expect(json(whoami)).toMatchObject({ url: octo.url, email, is_admin: false });

    const dbs = await cli(home, ['dbs', '--json']);
    expect(json<{ databases: unknown[] }>(dbs).databases).toEqual([expect.objectContaining({ db_id, status: 'ready' })]);

    const migrate = await cli(home, ['migrate', 'apply', sqlDir({ '01-items.sql': ITEMS, 'README.txt': 'not sql' }), '--wait', '--json']);
    expect(migrate.code, migrate.stderr).toBe(EXIT.OK);
    const batch = json<{ batch_id: string; counts: Record<string, number>; jobs: Array<{ table: string; state: string }> }>(migrate);
    expect(batch.counts).toEqual({ succeeded: 1 });
    expect(batch.jobs.map((j) => [j.table, j.state])).toEqual([['items', 'succeeded']]);
    const [columns] = await octo.admin.query<RowDataPacket[]>('SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position', [
      databaseName(db_id),
      'items',
    ]);
    expect(columns.map((r) => r.c)).toEqual(['id', 'name', 'note']);

    const insert = await cli(home, ['query', 'INSERT INTO items (name, note) VALUES (?, ?)', '--params', 'first', 'null']);
    expect(insert.code, insert.stderr).toBe(EXIT.OK);
    expect(insert.stdout).toBe('1 row affected, insert id 1\n');

    const select = await cli(home, ['query', 'SELECT id, name, note FROM items WHERE name = ?', '--params', 'first']);
    expect(select.code, select.stderr).toBe(EXIT.OK);
    expect(select.stdout).toMatch(/│ id +│ name +│ note +│/);
    expect(select.stdout).toMatch(/│ 1 +│ first +│ NULL +│/);
    expect(select.stderr).toBe('1 row\n');
    const asJson = await cli(home, ['query', 'SELECT id, name, note FROM items', '--json']);
    expect(json<{ data: unknown[] }>(asJson).data).toEqual([{ id: 1, name: 'first', note: null }]);

    const tables = await cli(home, ['tables', '--json']);
    expect(json<{ tables: Array<{ name: string }> }>(tables).tables.map((t) => t.name)).toContain('items');

    const shown = await cli(home, ['migrations', 'status', batch.batch_id]);
    expect(shown.code, shown.stderr).toBe(EXIT.OK);
    expect(shown.stdout).toMatch(/items +│ succeeded/);
    const job = await cli(home, ['migrations', 'status', (batch.jobs[0] as unknown as { job_id: string }).job_id, '--json']);
    expect(json(job)).toMatchObject({ table: 'items', state: 'succeeded', stages: expect.arrayContaining([expect.objectContaining({ stage: 'update', outcome: 'ok' })]) });

    const stats = await cli(home, ['stats', '--window', '1h', '--json']);
    expect(stats.code, stats.stderr).toBe(EXIT.OK);
    expect(json(stats)).toMatchObject({ window: '1h' });
  }, LONG);

  it('fails a --wait migration whose change is unsafe (exit FAILED), and applies it with --allow-unsafe', async () => {
    const { home, db_id } = await signedUp();
    const file = join(sqlDir({ 'items.sql': ITEMS }), 'items.sql');
    expect((await cli(home, ['migrate', 'apply', file, '--wait'])).code).toBe(EXIT.OK);
    writeFileSync(file, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(100) NOT NULL, PRIMARY KEY (id));');

    const columnsNow = async () =>
      (await octo.admin.query<RowDataPacket[]>('SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ?', [databaseName(db_id), 'items']))[0]
        .map((r) => r.c)
        .sort();
    // The dry run names the unsafe change and applies nothing.
    const plan = await cli(home, ['migrate', 'apply', file, '--dry-run', '--json']);
    expect(plan.code, plan.stderr).toBe(EXIT.OK);
    expect(json<{ tables: Array<{ table: string; change: string; unsafe: boolean; ddl: string[] }> }>(plan).tables).toEqual([
      expect.objectContaining({ table: 'items', change: 'alter', unsafe: true, ddl: [expect.stringMatching(/DROP COLUMN `note`/)] }),
    ]);
    const shownPlan = await cli(home, ['migrate', 'apply', file, '--dry-run']);
    expect(shownPlan.code, shownPlan.stderr).toBe(EXIT.OK);
    expect(shownPlan.stdout).toMatch(/items +│ alter +│ true/);
    expect(shownPlan.stderr).toContain('nothing was applied');
    expect(await columnsNow()).toEqual(['id', 'name', 'note']);

    const refused = await cli(home, ['migrate', 'apply', file, '--wait']);
    expect(refused.code).toBe(EXIT.FAILED);
    expect(refused.stdout).toMatch(/items +│ failed/);
    expect(refused.stdout).toContain('unsafe change refused');

    const allowed = await cli(home, ['migrate', 'apply', file, '--wait', '--allow-unsafe']);
    expect(allowed.code, allowed.stderr).toBe(EXIT.OK);
    expect(await columnsNow()).toEqual(['id', 'name']);

    // The history: newest first, filtered, paged.
    type Listed = { migrations: Array<{ state: string; tables: string[] }>; last_evaluated_key?: string };
    const listed = json<Listed>(await cli(home, ['migrations', 'list', '--json']));
    expect(listed.migrations.map((m) => [m.state, m.tables])).toEqual([['succeeded', ['items']], ['failed', ['items']], ['succeeded', ['items']]]);
    expect(json<Listed>(await cli(home, ['migrations', 'list', '--state', 'failed', '--json'])).migrations.map((m) => m.state)).toEqual(['failed']);
    const first = json<Listed>(await cli(home, ['migrations', 'list', '--limit', '1', '--json']));
    expect(first.migrations).toHaveLength(1);
    const next = json<Listed>(await cli(home, ['migrations', 'list', '--limit', '1', '--after', first.last_evaluated_key!, '--json']));
    expect(next.migrations.map((m) => m.state)).toEqual(['failed']);
  }, LONG);

  it('follows the logs: prints the migration records written after it started, and exits OK on SIGINT', async () => {
    const { home } = await signedUp();
    const follow = cli(home, ['logs', '--follow', '--interval', '0.2', '--limit', '1', '--json']);
    await waitFor(() => follow.out().split('\n').length > 1, { timeoutMs: 30_000, what: 'the first page' });
    const before = follow.out();
    expect((await cli(home, ['migrate', 'apply', join(sqlDir({ 'a.sql': ITEMS }), 'a.sql'), '--wait'])).code).toBe(EXIT.OK);
    await waitFor(() => follow.out().slice(before.length).includes('"source":"migration"'), { timeoutMs: 30_000, what: 'the migration records' });
    follow.child.kill('SIGINT');
    const run = await follow;
    expect(run.code).toBe(EXIT.OK);
    for (const line of run.stdout.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('log_id');
  }, LONG);
});

describe.skipIf(!serversUp)('octodb CLI: admins and cascades', () => {
  it('creates an admin (as npm run admin does), cascades its change to a child with --wait, and shows the cascade', async () => {
    const admin = newHome();
    const email = uniqueEmail();
    const env = { OCTODB_MYSQL_URL: `${MYSQL_URL.replace(/\/[^/]*$/, '')}/${octo.metaDb}`, OCTODB_LOG_DEAD_LETTER_FILE: octo.parts.config.OCTODB_LOG_DEAD_LETTER_FILE };
    const created = await cli(admin, ['admin', 'create', '--name', 'Ops', '--email', email, '--password', PASSWORD], env);
    expect(created.code, created.stderr).toBe(EXIT.OK);
    const parent = json<{ db_id: string; status: string }>(created);
    expect(parent.status).toBe('ready');
    expect((await cli(admin, ['login', '--email', email, '--password', PASSWORD])).code).toBe(EXIT.OK);
    const child = await signedUp(['--template', parent.db_id]);

    const migrate = await cli(admin, ['migrate', 'apply', join(sqlDir({ 'items.sql': ITEMS }), 'items.sql'), '--wait', '--json']);
    expect(migrate.code, migrate.stderr).toBe(EXIT.OK);
    const batch = json<{ jobs: Array<{ cascade?: { batch_id: string; counts: Record<string, number>; finished_at: string | null } }> }>(migrate);
    expect(batch.jobs[0]?.cascade).toMatchObject({ counts: { succeeded: 1 }, finished_at: expect.any(String) });
    const [tables] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [databaseName(child.db_id), 'items']);
    expect(Number(tables[0]!.n)).toBe(1);

    const cascade = await cli(admin, ['cascade', 'status', batch.jobs[0]!.cascade!.batch_id, '--json']);
    expect(cascade.code, cascade.stderr).toBe(EXIT.OK);
    expect(json(cascade)).toMatchObject({ kind: 'cascade', total: 1, counts: { succeeded: 1 } });
    // The tenant's batch id leads to its cascades too.
    const byParent = await cli(admin, ['cascade', 'status', json<{ batch_id: string }>(migrate).batch_id]);
    expect(byParent.code, byParent.stderr).toBe(EXIT.OK);
    expect(byParent.stdout).toMatch(/kind +│ cascade/);
    // A tenant batch that cascaded nowhere has no cascade to show.
    const own = await cli(child.home, ['migrate', 'apply', join(sqlDir({ 'b.sql': ITEMS.replace('items', 'own') }), 'b.sql'), '--wait', '--json']);
    const none = await cli(child.home, ['cascade', 'status', json<{ batch_id: string }>(own).batch_id]);
    expect(none.code).toBe(EXIT.NOT_FOUND);
    expect(none.stderr).toMatch(/started no cascade/);
  }, LONG);
});

describe.skipIf(!serversUp)('octodb CLI: bad input and failures, as exit codes and stderr', () => {
  let home: string;
  let email: string;
  beforeAll(async () => {
    ({ home, email } = await signedUp(['--no-wait']));
  });

  // Each case its own process, none changing the session: run side by side.
  it.concurrent.for([
    ['an unknown flag', ['dbs', '--bogus'], /unknown option '--bogus'/],
    ['an unknown command', ['dbz'], /unknown command 'dbz'/],
    ['a missing argument', ['query'], /missing required argument 'sql'/],
    ['a group without its command', ['migrations'], /Usage: octodb migrations/],
    ['a bad --limit', ['logs', '--limit', '0'], /expected an integer from 1 to 100/],
    ['a URL that is none', ['dbs', '--url', 'not a url'], /Not a URL/],
    ['a URL of another scheme', ['dbs', '--url', 'ftp://127.0.0.1/'], /Not an http\(s\) URL/],
    ['a file that is not there', ['migrate', 'apply', '/nonexistent/x.sql'], /Cannot read \/nonexistent\/x.sql: ENOENT/],
    ['a directory without .sql files', ['migrate', 'apply', ROOT + '/docs'], /No \.sql file in/],
    ['no password and no terminal to ask on', ['login', '--email', 'a@example.com'], /--password is required \(or OCTODB_PASSWORD\)/],
  ] as Array<[string, string[], RegExp]>)('exits USAGE on %s, with the reason on stderr and nothing on stdout', async ([, args, reason], { expect }) => {
    const run = await cli(home, args);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(reason);
    expect(run.stdout).toBe('');
  });

  it('answers --help on every command with exit OK', async () => {
    const commands = [['--help'], ['query', '--help'], ['migrate', 'apply', '--help'], ['cascade', 'status', '--help'], ['admin', 'create', '--help']];
    const runs = await Promise.all(commands.map((args) => cli(home, args)));
    for (const [i, run] of runs.entries()) {
      expect(run.code, commands[i]!.join(' ')).toBe(EXIT.OK);
      expect(run.stdout).toMatch(/^Usage: octodb/);
    }
  }, LONG);

  it('runs as `npx octodb` in the clone (package.json bin)', async () => {
    const run = await new Promise<Run>((resolve) => {
      const child = spawn('npx', ['octodb', 'whoami', '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toMatch(/^Usage: octodb whoami/);
  });

  it('exits AUTH without a session, with an expired one, with one a newer login replaced, and for a wrong password', async () => {
    const none = await cli(newHome(), ['dbs']);
    expect(none.code).toBe(EXIT.AUTH);
    expect(none.stderr).toMatch(/Not signed in to .*: run `octodb login`/);

    // A session whose token expired: told to log in; with OCTODB_PASSWORD it is renewed by itself.
    const stale = newHome();
    mkdirSync(join(stale, 'octodb'), { recursive: true });
    const expired = { current: octo.url, sessions: { [octo.url]: { email, token: storedToken(home), expires_at: '2020-01-01T00:00:00.000Z' } } };
    writeFileSync(sessionFile(stale), JSON.stringify(expired));
    const refused = await cli(stale, ['dbs']);
    expect(refused.code).toBe(EXIT.AUTH);
    expect(refused.stderr).toMatch(/expired at 2020-01-01T00:00:00.000Z: run `octodb login`/);
    const renewed = await cli(stale, ['dbs', '--json'], { OCTODB_PASSWORD: PASSWORD });
    expect(renewed.code, renewed.stderr).toBe(EXIT.OK);
    expect(storedToken(stale)).not.toBe(expired.sessions[octo.url]!.token);
    expect(statSync(sessionFile(stale)).mode & 0o777).toBe(0o600);

    // That renewal issued a new token, which revoked the one `home` holds.
    const replaced = await cli(home, ['dbs']);
    expect(replaced.code).toBe(EXIT.AUTH);
    expect(replaced.stderr).toMatch(/Unauthorized: the token expired, was revoked, or a newer login replaced it/);

    const wrong = await cli(home, ['login', '--email', email, '--password', 'not the password', '--json']);
    expect(wrong.code).toBe(EXIT.AUTH);
    expect(JSON.parse(wrong.stderr)).toMatchObject({ error: 'Invalid email or password', exit: 'AUTH', code: EXIT.AUTH, status: 401 });
    // OCTODB_TOKEN stands in for a session (a token or an API key).
    const viaEnv = await cli(newHome(), ['whoami', '--json'], { OCTODB_TOKEN: storedToken(stale) });
    expect(json(viaEnv)).toMatchObject({ email });
  }, LONG);

  it("exits REFUSED for what the API refuses and NOT_FOUND for another's database, with the API's reason", async () => {
    const { home: user } = await signedUp();
    const prohibited = await cli(user, ['query', 'DROP TABLE customers']);
    expect(prohibited.code).toBe(EXIT.REFUSED);
    expect(prohibited.stderr).toBe('octodb: Prohibited operation detected: DROP\n');
    const asJson = await cli(user, ['query', 'DROP TABLE customers', '--json']);
    expect(JSON.parse(asJson.stderr)).toMatchObject({ exit: 'REFUSED', status: 403, answer: { code: 'PROHIBITED' } });
    expect(asJson.stdout).toBe('');

    const bad = await cli(user, ['migrate', 'apply', join(sqlDir({ 'x.sql': 'CREATE TABLE x (id int NOT NULL, PRIMARY KEY (id)) ENGINE=MyISAM;' }), 'x.sql')]);
    expect(bad.code).toBe(EXIT.REFUSED);
    expect(bad.stderr).toMatch(/statement 1 \(engine\): ENGINE=MYISAM is not allowed/);

    const missing = await cli(user, ['tables', '--db', 'f'.repeat(32)]);
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.stderr).toBe('octodb: Database not found\n');
  }, LONG);

  it('exits UNREACHABLE when nothing answers, and SERVER for a wrong path or an answer that is not the API', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await cli(home, ['login', '--email', email, '--password', PASSWORD, '--url', `http://127.0.0.1:${port}`]);
    expect(unreachable.code).toBe(EXIT.UNREACHABLE);
    expect(unreachable.stderr).toMatch(/Cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);

    // A URL with a stage path the gateway does not route: its own 403, told apart from a refusal.
    const wrongPath = await cli(home, ['login', '--email', email, '--password', PASSWORD, '--url', `${octo.url}/prod`]);
    expect(wrongPath.code).toBe(EXIT.SERVER);
    expect(wrongPath.stderr).toMatch(/has no route \/token: is --url the OctoDB API/);

    // What a proxy in front of the API may answer: a 502 page, a 503 in JSON.
    const answers: Array<[number, string]> = [
      [502, '<html>Bad Gateway</html>'],
      [503, JSON.stringify({ error: 'The service is briefly unavailable: try again shortly', code: 'METADB_UNAVAILABLE', retry_after_seconds: 1 })],
    ];
    const proxy: Server = createServer((_req, res) => {
      const [status, body] = answers.shift()!;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const page = await cli(home, ['login', '--email', email, '--password', PASSWORD, '--url', url]);
      expect(page.code).toBe(EXIT.SERVER);
      expect(page.stderr).toMatch(/answered 502 with something other than JSON/);
      const busy = await cli(home, ['login', '--email', email, '--password', PASSWORD, '--url', url]);
      expect(busy.code).toBe(EXIT.UNAVAILABLE);
      expect(busy.stderr).toMatch(/briefly unavailable: try again shortly\n {2}retry after 1 s/);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, LONG);
});
