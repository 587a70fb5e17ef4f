/**
 * Servers a fault test owns and may kill: a MariaDB (its own datadir, port and socket, made with
 * mariadb-install-db) and a Redis (its own port, nothing saved), never the shared ones, and a local
 * OctoDB (bin/local.ts) in a process of its own pointed at them. Each can be SIGKILLed and started
 * again; stop() removes every file they made.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { TEST_CA_FILE, TEST_TLS } from './mysql-tls.ts';
import { waitFor } from './wait.ts';

/** The admin login the fault servers' MariaDB gets (the shared server's is the same by default). */
const ADMIN = { user: 'octodb', password: 'octodb' };

/** mariadb-install-db, mariadbd and redis-server on this machine (bin/setup.sh installs them on Debian). */
export const faultServersMissing = ['mariadb-install-db', 'mariadbd', 'redis-server'].filter(
  (bin) => spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status !== 0,
);
const sbin = (bin: string) => (spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || `/usr/sbin/${bin}`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits for the process to be gone (a SIGKILL is delivered at once; its exit is seen a moment later). */
const exited = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)));

interface Killable {
  /** SIGKILL, as a crash or an OOM kill: nothing is flushed, nothing closed. */
  kill(): Promise<void>;
  /** Starts it again on the same port (and, for MariaDB, the same data). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A server process started by `launch` (which resolves once it answers) in `dir`, removed by stop(). */
function killable(dir: string, launch: () => Promise<ChildProcess>): Killable {
  let child: ChildProcess | undefined;
  const server: Killable = {
    start: async () => void (child = await launch()),
    async kill() {
      child?.kill('SIGKILL');
      if (child) await exited(child);
    },
    async stop() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface OwnMariaDb extends Killable {
  port: number;
  /** Its data directory (binlogs named without a path are written there). */
  datadir: string;
  /** mysql://octodb:octodb@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** A new admin connection (over TCP, as OctoDB's). */
  connect(): Promise<Connection>;
}

/**
 * A MariaDB of the test's own: a fresh datadir, its port, its socket; the admin login created,
 * anonymous users deleted. By default it serves the local server's certificate (bin/setup.sh) and,
 * as production's MySQL, refuses any connection over TCP without TLS (require_secure_transport);
 * `serverArgs` replaces those settings; `args` come last (e.g. `--log-bin=...` overrides the default
 * `--skip-log-bin`).
 */
export async function startOwnMariaDb(options: { serverArgs?: string[]; args?: string[] } = {}): Promise<OwnMariaDb> {
  const serverArgs = options.serverArgs ?? [
    `--ssl-ca=${TEST_CA_FILE}`,
    `--ssl-cert=${join(dirname(TEST_CA_FILE), 'server-cert.pem')}`,
    `--ssl-key=${join(dirname(TEST_CA_FILE), 'server-key.pem')}`,
    '--require-secure-transport=ON',
  ];
  const dir = mkdtempSync(join(tmpdir(), 'octodb-fault-mariadb-'));
  const port = await freePort();
  const user = userInfo().username;
  const socket = join(dir, 'mysqld.sock');
  const install = spawnSync(sbin('mariadb-install-db'), ['--no-defaults', `--datadir=${join(dir, 'data')}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  const login = { host: '127.0.0.1', port, ...ADMIN, ssl: TEST_TLS };
  const db: OwnMariaDb = {
    port,
    datadir: join(dir, 'data'),
    url: (database) => `mysql://${ADMIN.user}:${ADMIN.password}@127.0.0.1:${port}/${database}`,
    connect: () => createConnection(login),
    ...killable(dir, async () => {
      const child = spawn(
        sbin('mariadbd'),
        [
          '--no-defaults',
          `--datadir=${join(dir, 'data')}`,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--user=${user}`,
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--log-error=${join(dir, 'error.log')}`,
          '--skip-name-resolve',
          '--skip-log-bin',
          '--max-connections=300',
          '--innodb-buffer-pool-size=64M',
          // Durability as production's: a kill loses nothing committed.
          '--innodb-flush-log-at-trx-commit=1',
          ...serverArgs,
          ...(options.args ?? []),
        ],
        { stdio: 'ignore' },
      );
      await waitFor(() => createConnection({ socketPath: socket, user: 'root' }).then((c) => c.end().then(() => true), () => false), { timeoutMs: 60_000, intervalMs: 100, what: `MariaDB on port ${port}` });
      return child;
    }),
  };
  await db.start();
  const root = await createConnection({ socketPath: socket, user: 'root' });
  // Anonymous users ('', localhost/hostname) shadow '%' accounts for connections over 127.0.0.1.
  const [anonymous] = await root.query<Array<{ Host: string } & import('mysql2').RowDataPacket>>("SELECT Host FROM mysql.user WHERE User = ''");
  for (const a of anonymous) await root.query("DROP USER ''@?", [a.Host]);
  await root.query('CREATE USER ?@? IDENTIFIED BY ?', [ADMIN.user, '%', ADMIN.password]);
  await root.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [ADMIN.user, '%']);
  await root.end();
  return db;
}

export interface OwnRedis extends Killable {
  /** redis://[:password@]127.0.0.1:<port> */
  url: string;
  port: number;
}

/**
 * A Redis of the test's own: its port, nothing saved to disk (a restart comes back empty, as a
 * wiped one); with `password`, it requires AUTH (--requirepass), as ElastiCache with a token does.
 */
export async function startOwnRedis(options: { password?: string } = {}): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'octodb-fault-redis-'));
  const port = await freePort();
  const auth = options.password === undefined ? [] : ['--requirepass', options.password];
  const redis: OwnRedis = {
    url: `redis://${options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`}127.0.0.1:${port}`,
    port,
    ...killable(dir, async () => {
      const child = spawn(sbin('redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...auth], { stdio: 'ignore' });
      const ping = ['-p', String(port), ...(options.password === undefined ? [] : ['--no-auth-warning', '-a', options.password]), 'ping'];
      await waitFor(() => spawnSync(sbin('redis-cli'), ping, { encoding: 'utf8' }).stdout.includes('PONG'), { timeoutMs: 20_000, intervalMs: 50, what: `Redis on port ${port}` });
      return child;
    }),
  };
  await redis.start();
  return redis;
}

export interface OwnOctoDb {
  child: ChildProcess;
  url: string;
  /** When the process was spawned and when it listened (ms since the epoch). */
  spawnedAt: number;
  listeningAt: number;
  /** A JSON POST to its API: the status and the parsed answer. */
  post(path: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  kill(): Promise<void>;
}

/**
 * `npm start` (bin/local.ts) in a process of its own on these servers: its MetaDB, the host's MySQL
 * and Redis are the fault servers; its local files in `work`. `env` adds settings.
 */
export async function startOwnOctoDb(servers: { mariadb: OwnMariaDb; redis: OwnRedis; work: string }, env: Record<string, string> = {}): Promise<OwnOctoDb> {
  const spawnedAt = Date.now();
  const dir = mkdtempSync(join(servers.work, 'octodb-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    env: {
      ...process.env,
      PORT: '0',
      OCTODB_MYSQL_URL: servers.mariadb.url('octodb_meta'),
      OCTODB_MYSQL_API_URL: `mysql://octodb_api:octodb_api@127.0.0.1:${servers.mariadb.port}`,
      OCTODB_DB_PORT: String(servers.mariadb.port),
      OCTODB_REDIS_URL: servers.redis.url,
      OCTODB_DYNALITE_DIR: join(dir, 'dynalite'),
      OCTODB_LOG_DEAD_LETTER_FILE: join(dir, 'dead-letters.jsonl'),
      OCTODB_OUTBOX_FILE: join(dir, 'outbox.jsonl'),
      // As startTestOctoDb: a loaded test machine must not refuse an ordinary migration for a moment of contention.
      OCTODB_VALIDATOR_BUDGET_MS: '2000',
      OCTODB_VALIDATOR_YIELDS: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await waitFor(
    () => {
      // A start that fails (a refused MySQL, a bad setting) ends the process: no use waiting on.
      if (child.exitCode !== null) throw new Error(`the local OctoDB exited with ${child.exitCode} before listening`);
      return /listening on (\S+)/.exec(out)?.[1];
    },
    { timeoutMs: 60_000, intervalMs: 20, what: 'the local OctoDB to listen' },
  );
  return {
    child,
    url,
    spawnedAt,
    listeningAt: Date.now(),
    async post(path, body, token) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}
