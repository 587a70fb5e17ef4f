/**
 * `npm run bench -- neighbours [--seconds 10] [--rate 50] [--kinds parser,cartesian,writes,token] …`
 * (every flag: FLAGS below; docs/limits.md).
 *
 * Can one tenant hurt another (issue 10)? A victim tenant sends a steady OPEN-LOOP load (a fixed
 * rate, whatever the answers do) of a primary-key SELECT on its own table, first alone, then while
 * attacker tenants (separate accounts, each worker in a closed loop) send one kind of attack at a
 * time, then all kinds together, then alone again. Per phase it prints the victim's answers by
 * status, p50/p99 and their ratio to the first "alone" phase, and what the attackers got.
 * Goal: the victim never sees a 5xx (nor a timeout) and its p99 under attack is ≤ 3× alone.
 *
 * OctoDB runs in this process (its own MetaDB, dropped at the end with every database, user and
 * Redis key of its tenants), so a blocked event loop delays the client too: every latency is
 * counted from when the request was due, not from when it went out (no coordinated omission),
 * and a request not answered within its timeout counts as status `timeout`. Traffic goes only to
 * 127.0.0.1; every loop stops by itself (a phase's time, a request count, the write budget).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import type { RowDataPacket } from 'mysql2/promise';
import { databaseName } from '#core/ids';
import { loadConfig } from '#shared/config';
import type { TestOctoDb } from '../test/support/octodb.ts';
import { percentile } from './stats.ts';

/**
 * Settings this benchmark raises so its set-up (one victim and several attacker accounts, all
 * from 127.0.0.1) is not refused by per-IP signup limits. Unknown names are ignored by the config.
 * Nothing here relaxes what the attacks meet: per-tenant rate limits, quotas, pool caps and the
 * /token limits stay at their defaults (the set-up asks one token per account).
 */
const DEFAULTS = loadConfig({});
export const SETUP_ENV_OVERRIDES: Record<string, string> = {
  OCTODB_RATE_SIGNUP_PER_IP: '1000/s burst 1000',
  // The tests' OctoDB relaxes these for loaded test machines; the attacks meet the defaults `npm start` has:
  // 429s held back, each statement's validator time bounded by the default budget (not the tests'
  // 2 s), and a validator that yields the CPU to the thread serving the victim.
  OCTODB_LOCAL_REFUSAL_DELAY_MS: String(DEFAULTS.OCTODB_LOCAL_REFUSAL_DELAY_MS),
  OCTODB_VALIDATOR_BUDGET_MS: String(DEFAULTS.OCTODB_VALIDATOR_BUDGET_MS),
  OCTODB_VALIDATOR_YIELDS: String(DEFAULTS.OCTODB_VALIDATOR_YIELDS),
};

const KINDS = ['parser', 'cartesian', 'writes', 'token'] as const;
type Kind = (typeof KINDS)[number];

const FLAGS = {
  /** Seconds of victim load per phase. */
  seconds: { type: 'string', default: '8' },
  /** Victim requests per second (open loop); keep it under the per-tenant rate limit. */
  rate: { type: 'string', default: '50' },
  /** Attack kinds to run, comma-separated: each alone, then all together. */
  kinds: { type: 'string', default: KINDS.join(',') },
  /** Attacker accounts per kind. */
  attackers: { type: 'string', default: '2' },
  /** Concurrent requests per attacker account (each a closed loop). */
  concurrency: { type: 'string', default: '4' },
  /** Levels of `CASE (…) WHEN` nesting in a parser attack (each level roughly doubles today's parse time). */
  'parser-depth': { type: 'string', default: '12' },
  /** Megabytes the write attackers may write per phase in all (100 MB per statement). */
  'write-mb': { type: 'string', default: '2000' },
  /** Client-side timeouts, ms. */
  'victim-timeout': { type: 'string', default: '10000' },
  'attacker-timeout': { type: 'string', default: '20000' },
  /** Seconds of quiet after each phase, so work the server still does (a parse, a statement) is not billed to the next. */
  settle: { type: 'string', default: '2' },
} as const;

/** A request loop sends at most this many, whatever its time allows. */
const MAX_REQUESTS_PER_WORKER = 20_000;
/** Attackers start this long before the victim's measured load, so it meets a steady attack. */
const RAMP_MS = 1000;
const WARM_UP_SECONDS = 3;
const QUIET_WAIT_MS = 60_000;
const VICTIM_SQL = 'SELECT id, name, email FROM customers WHERE id = ?';
// No AUTO_INCREMENT: concurrent INSERT … SELECT FROM seq_… into one auto-increment table fails on
// MariaDB 10.11 (1467 "Failed to read auto-increment value"), which would spare the server the write.
const BLOB_TABLE = 'CREATE TABLE blobs (id bigint unsigned NOT NULL, body longtext NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;';
const WRITE_MB_PER_STATEMENT = 100;

interface Account {
  tenant_id: string;
  db_id: string;
  email: string;
  password: string;
  token: string;
}
interface Attacker extends Account {
  kind: Kind;
}
type Counts = Map<string, number>;
interface VictimSample {
  status: string;
  ms: number;
}
interface Phase {
  name: string;
  victim: VictimSample[];
  attacks: Map<Kind, Counts>;
  /** How long the attackers' statements kept running on the server after their requests ended. */
  busyAfterMs: number;
  /**
   * The longest the event loop serving every tenant (and the victim's client) was late during the
   * phase: a victim stall about this long may be OctoDB's process not running, a longer one is MySQL's.
   */
  loopLateMaxMs: number;
}

let aborted = false;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: FLAGS });
  const num = (name: keyof typeof FLAGS) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number`);
    return n;
  };
  const kinds = String(values.kinds)
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown.length) throw new Error(`unknown --kinds ${unknown.join(',')} (known: ${KINDS.join(',')})`);
  const opts = {
    seconds: num('seconds'),
    rate: num('rate'),
    kinds: kinds as Kind[],
    attackers: num('attackers'),
    concurrency: num('concurrency'),
    parserDepth: num('parser-depth'),
    writeStatements: Math.floor(num('write-mb') / WRITE_MB_PER_STATEMENT),
    victimTimeoutMs: num('victim-timeout'),
    attackerTimeoutMs: num('attacker-timeout'),
    settleMs: num('settle') * 1000,
  };
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN'; // one log line per request would measure stdout
  const onSignal = () => (aborted ? process.exit(130) : ((aborted = true), console.error('\nstopping: cleaning up (Ctrl-C again to leave at once)')));
  process.on('SIGINT', onSignal);

  const { startTestOctoDb } = await import('../test/support/octodb.ts');
  const octo = await startTestOctoDb(SETUP_ENV_OVERRIDES);
  const jobIds: string[] = [];
  const accounts: Array<Omit<Account, 'token'>> = [];
  let attackerThread: AttackerThread | undefined;
  try {
    console.log(`setting up 1 victim and ${opts.attackers * opts.kinds.length} attacker accounts…`);
    const signUp = async (): Promise<Account> => {
      const email = `t-${randomBytes(6).toString('hex')}@example.com`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const ids = await setupPost<{ tenant_id: string; db_id: string }>(octo.url, '/signup', { name: 'Neighbours bench', email, password }, 202);
      accounts.push({ ...ids, email, password });
      const db = await octo.waitForDatabase(ids.db_id, 180_000);
      if (db.status !== 'ready') throw new Error(`database ${ids.db_id} ${db.status}: ${db.status_reason}`);
      const { token } = await setupPost<{ token: string }>(octo.url, '/token', { email, password }, 200);
      return { ...ids, email, password, token };
    };
    const [victim, ...attackerAccounts] = await Promise.all(
      Array.from({ length: 1 + opts.attackers * opts.kinds.length }, signUp),
    );
    const attackers: Attacker[] = attackerAccounts.map((a, i) => ({ ...a, kind: opts.kinds[Math.floor(i / opts.attackers)]! }));
    const seeded = await octo.post('/query', { query: 'INSERT INTO customers (id, name, email) VALUES (1, ?, ?)', params: ['victim', 'v@example.com'] }, victim!.token);
    if (seeded.status !== 200) throw new Error(`victim seed answered ${seeded.status}`);
    for (const a of attackers.filter((x) => x.kind === 'writes')) jobIds.push(...(await createBlobTable(octo, a)));

    attackerThread = new AttackerThread({ ...opts, url: octo.url, attackers });
    const victimAgent = new Agent({ keepAlive: true, maxSockets: 64 });
    const victimCall = (due: number) =>
      call(octo.url, victimAgent, '/query', { query: VICTIM_SQL, params: [1] }, victim!.token, due + opts.victimTimeoutMs).then((status) => ({
        status,
        ms: performance.now() - due,
      }));
    // Warm-up (JIT, pools, the verdict cache), after the set-up's own work (provisioning,
    // migrations, their logs) has finished, so the baseline is not billed for it.
    await attackerThread.ready;
    await drained(octo);
    await sleep(opts.settleMs);
    await openLoop(opts.rate, WARM_UP_SECONDS, victimCall);

    const plan: Array<{ name: string; kinds: Kind[] }> = [
      { name: 'alone', kinds: [] },
      ...opts.kinds.map((k) => ({ name: k, kinds: [k] })),
      ...(opts.kinds.length > 1 ? [{ name: 'all together', kinds: opts.kinds }] : []),
      { name: 'alone, after', kinds: [] },
    ];
    const phases: Phase[] = [];
    for (const step of plan) {
      if (aborted) break;
      const started = performance.now();
      const attacking = step.kinds.length ? attackerThread.run(step.kinds, RAMP_MS + opts.seconds * 1000) : Promise.resolve(new Map<Kind, Counts>());
      if (step.kinds.length) await sleep(RAMP_MS);
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      const victimSamples = await openLoop(opts.rate, opts.seconds, victimCall);
      loopDelay.disable();
      const attacks = await attacking;
      const busy = await quiet(octo, attackers);
      await drained(octo);
      await sleep(opts.settleMs);
      phases.push({ name: step.name, victim: victimSamples, attacks, busyAfterMs: busy, loopLateMaxMs: loopDelay.max / 1e6 });
      console.log(`phase ${step.name}: ${((performance.now() - started) / 1000).toFixed(1)} s${busy ? `, the server still ran attackers' statements for ${(busy / 1000).toFixed(1)} s after` : ''}`);
    }
    victimAgent.destroy();
    report(phases, opts);
  } finally {
    process.off('SIGINT', onSignal);
    await attackerThread?.close();
    const forgotten = await forgetRedisKeys(octo, [...accounts.flatMap((a) => [a.tenant_id, a.db_id, a.email]), ...jobIds]);
    await octo.close(); // drops every tenant database and user, then the MetaDB
    console.log(`\ncleaned up: ${accounts.length} tenant databases and users, MetaDB ${octo.metaDb}, ${forgotten} Redis keys`);
  }
}

/** A table of its own for the write attacker (the template's columns hold 200 characters at most). */
async function createBlobTable(octo: TestOctoDb, a: Account): Promise<string[]> {
  const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: BLOB_TABLE }, a.token);
  if (res.status !== 202) throw new Error(`/migrate answered ${res.status}: ${JSON.stringify(res.body)}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT finished_at FROM \`${octo.metaDb}\`.migration_batches WHERE batch_id = ?`, [res.body.batch_id]);
    if (rows[0]?.finished_at) break;
    if (Date.now() > deadline) throw new Error('the write attackers’ table was not created within 120 s');
    await sleep(100);
  }
  return res.body.jobs.map((j) => j.job_id);
}

/** Until async invokes are done and every log record so far is stored (L1 and dynalite run on threads of this process). */
async function drained(octo: TestOctoDb): Promise<void> {
  await octo.invoker.idle();
  await octo.parts.flush();
  await octo.logQueue.idle();
}

/**
 * Waits (at most QUIET_WAIT_MS) until no attacker statement runs on the server (a statement whose
 * client gave up, a write rolling back), so the next phase does not pay for this one. Returns the wait.
 */
async function quiet(octo: TestOctoDb, attackers: Account[]): Promise<number> {
  const started = performance.now();
  const databases = attackers.map((a) => databaseName(a.db_id));
  while (performance.now() - started < QUIET_WAIT_MS) {
    const [rows] = await octo.admin.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB IN (?) AND COMMAND <> 'Sleep'",
      [databases],
    );
    if (Number(rows[0]?.n) === 0) break;
    await sleep(200);
  }
  return performance.now() - started < 250 ? 0 : performance.now() - started;
}

/** Sends `rate` requests a second for `seconds`, each when due, whatever the earlier ones did. */
async function openLoop(rate: number, seconds: number, send: (due: number) => Promise<VictimSample>): Promise<VictimSample[]> {
  const total = Math.min(Math.round(rate * seconds), MAX_REQUESTS_PER_WORKER);
  const start = performance.now();
  const pending: Array<Promise<VictimSample>> = [];
  for (let i = 0; i < total && !aborted; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(send(due));
  }
  return Promise.all(pending);
}

/** One attacker worker: its next request as soon as the last answered, until the deadline. */
async function attackLoop(
  url: string,
  a: Attacker,
  agent: Agent,
  counts: Counts,
  deadline: number,
  budget: { writes: number },
  opts: { parserDepth: number; attackerTimeoutMs: number },
): Promise<void> {
  for (let i = 0; i < MAX_REQUESTS_PER_WORKER && !aborted && performance.now() < deadline; i++) {
    if (a.kind === 'writes' && budget.writes-- <= 0) return;
    const { path, body, token } = attackRequest(a, i, opts.parserDepth);
    const status = await call(url, agent, path, body, token, performance.now() + opts.attackerTimeoutMs);
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
}

/**
 * The attackers' clients run on a worker thread, as attackers run on machines of their own: their
 * loops (fast ones, once a defence answers 429 at once) must not take the event loop OctoDB
 * serves from, and their timeouts fire on time while OctoDB's thread is blocked.
 */
interface AttackerSetup {
  url: string;
  attackers: Attacker[];
  concurrency: number;
  parserDepth: number;
  writeStatements: number;
  attackerTimeoutMs: number;
}
type PhaseOrder = { phase: number; kinds: Kind[]; durationMs: number } | { stop: true };
interface PhaseReply {
  phase: number;
  counts: Array<[Kind, Array<[string, number]>]>;
}

class AttackerThread {
  private readonly worker: Worker;
  private phase = 0;
  private readonly waiting = new Map<number, (counts: Map<Kind, Counts>) => void>();
  /** Settles once the thread has loaded (compiling its TypeScript takes CPU the baseline must not share). */
  readonly ready: Promise<unknown>;

  constructor(setup: AttackerSetup) {
    this.worker = new Worker(new URL('./_neighbours-attackers.mjs', import.meta.url), { workerData: setup });
    this.ready = once(this.worker, 'online').then(() => this.run([], 0));
    this.worker.on('message', ({ phase, counts }: PhaseReply) => {
      this.waiting.get(phase)?.(new Map(counts.map(([kind, c]) => [kind, new Map(c)])));
      this.waiting.delete(phase);
    });
    this.worker.on('error', (error) => {
      console.error('attacker thread failed:', error);
      for (const resolve of this.waiting.values()) resolve(new Map());
      this.waiting.clear();
    });
  }

  run(kinds: Kind[], durationMs: number): Promise<Map<Kind, Counts>> {
    const phase = ++this.phase;
    return new Promise((resolve) => {
      this.waiting.set(phase, resolve);
      this.worker.postMessage({ phase, kinds, durationMs } satisfies PhaseOrder);
    });
  }

  /** Asks the loops to stop (they end within their request timeout), then ends the thread. */
  async close(): Promise<void> {
    this.worker.postMessage({ stop: true } satisfies PhaseOrder);
    await Promise.race([once(this.worker, 'exit'), sleep(30_000)]);
    await this.worker.terminate();
  }
}

/** The worker thread's side (bench/_neighbours-attackers.mjs loads this module there). */
export function serveAttackerThread(): void {
  const setup = workerData as AttackerSetup;
  const agents = new Map(setup.attackers.map((a) => [a, new Agent({ keepAlive: true, maxSockets: setup.concurrency })]));
  parentPort!.on('message', (order: PhaseOrder) => {
    if ('stop' in order) {
      aborted = true;
      for (const agent of agents.values()) agent.destroy();
      parentPort!.close();
      return;
    }
    const counts = new Map<Kind, Counts>(order.kinds.map((k) => [k, new Map()]));
    const deadline = performance.now() + order.durationMs;
    const budget = { writes: setup.writeStatements };
    void Promise.all(
      setup.attackers
        .filter((a) => order.kinds.includes(a.kind))
        .flatMap((a) => Array.from({ length: setup.concurrency }, () => attackLoop(setup.url, a, agents.get(a)!, counts.get(a.kind)!, deadline, budget, setup))),
    ).then(() => parentPort!.postMessage({ phase: order.phase, counts: [...counts].map(([k, c]) => [k, [...c]]) } satisfies PhaseReply));
  });
}

/** A set-up request: answered `expected`, or 429 (then again after Retry-After, for 2 minutes at most). */
async function setupPost<T>(url: string, path: string, body: unknown, expected: number): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
    const answer = (await res.json()) as T;
    if (res.status === expected) return answer;
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    if (res.status !== 429 || !(retryAfter >= 0) || Date.now() + retryAfter * 1000 > deadline) {
      throw new Error(`set-up ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
    }
    await sleep(retryAfter * 1000 + 50);
  }
}

/** Each statement's text differs (a random salt), so no verdict or result cache can help. */
function attackRequest(a: Attacker, i: number, depth: number): { path: string; body: unknown; token?: string } {
  const salt = randomBytes(4).readUInt32BE();
  switch (a.kind) {
    case 'parser': {
      // The shape of finding 1: a simple CASE whose operand is a parenthesised CASE; every other
      // request a CAST nest as deep as today's bound lets pass.
      let e = String(salt);
      if (i % 2 === 0) for (let d = 0; d < depth; d++) e = `CASE (${e}) WHEN ${d} THEN ${d} END`;
      else e = `${'CAST('.repeat(6)}'${salt}'${' AS CHAR)'.repeat(6)}`;
      return { path: '/query', body: { query: `SELECT ${e} AS v FROM customers` }, token: a.token };
    }
    case 'cartesian':
      // 10^10 row pairs with no usable index: runs until the statement time limit stops it.
      return { path: '/query', body: { query: `SELECT COUNT(*) AS n FROM seq_1_to_100000 a JOIN seq_1_to_100000 b ON a.seq * b.seq = ${salt}` }, token: a.token };
    case 'writes':
      return { path: '/query', body: { query: `INSERT INTO blobs (id, body) SELECT ${salt} * 1000 + seq, REPEAT('x', 1000000) FROM seq_1_to_${WRITE_MB_PER_STATEMENT}` }, token: a.token };
    case 'token':
      // Wrong and right passwords in turn: bcrypt runs for both.
      return { path: '/token', body: { email: a.email, password: i % 2 === 0 ? `wrong-${salt}` : a.password } };
  }
}

/**
 * POST with a client-side deadline. The answer is its status, with the error body's `code` when it
 * has one (`503 BUSY`, `403 QUOTA_EXCEEDED`); `timeout` past the deadline, `error <code>` if the
 * socket failed. A kept-alive socket the server closed as the request went out is tried once more
 * on a new one, as HTTP clients do (Node's documented pattern: `reusedSocket` and ECONNRESET).
 */
async function call(base: string, agent: Agent, path: string, body: unknown, token: string | undefined, deadline: number): Promise<string> {
  const first = await attempt(base, agent, path, body, token, deadline);
  return first === RETRY ? (await attempt(base, agent, path, body, token, deadline)).replace(RETRY, 'error ECONNRESET') : first;
}

const RETRY = 'retry';

function attempt(base: string, agent: Agent, path: string, body: unknown, token: string | undefined, deadline: number): Promise<string> {
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(status);
    };
    const req = request(
      `${base}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < 64 * 1024) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => finish(statusOf(res.statusCode ?? 0, chunks)));
        res.on('error', () => finish('error'));
      },
    );
    const timer = setTimeout(() => {
      finish('timeout');
      req.destroy();
    }, Math.max(0, deadline - performance.now()));
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish(req.reusedSocket && error.code === 'ECONNRESET' ? RETRY : `error ${error.code ?? error.message}`),
    );
    req.end(payload);
  });
}

function statusOf(status: number, chunks: Buffer[]): string {
  if (status < 400) return String(status);
  try {
    const code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'string' ? `${status} ${code}` : String(status);
  } catch {
    return String(status);
  }
}

/** Deletes the Redis keys that name one of this run's tenants, databases, emails or migration jobs. */
async function forgetRedisKeys(octo: TestOctoDb, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const redis = await octo.parts.get('redis');
  const ours: string[] = [];
  const lowered = ids.map((id) => id.toLowerCase());
  for await (const keys of redis.scanStream({ count: 1000 }) as AsyncIterable<string[]>) {
    for (const key of keys) if (lowered.some((id) => key.toLowerCase().includes(id))) ours.push(key);
  }
  for (let i = 0; i < ours.length; i += 500) await redis.unlink(...ours.slice(i, i + 500));
  return ours.length;
}

interface Summary {
  sent: number;
  ok: number;
  p50: number;
  p99: number;
  others: Counts;
  fivexx: number;
}

function summarize(samples: VictimSample[]): Summary {
  const ms = samples.map((s) => s.ms);
  const others: Counts = new Map();
  let ok = 0;
  let fivexx = 0;
  for (const s of samples) {
    if (/^2\d\d$/.test(s.status)) ok++;
    else others.set(s.status, (others.get(s.status) ?? 0) + 1);
    if (/^(5|timeout|error)/.test(s.status)) fivexx++;
  }
  return { sent: samples.length, ok, p50: percentile(ms, 50), p99: percentile(ms, 99), others, fivexx };
}

const listCounts = (counts: Counts) =>
  [...counts.entries()]
    .sort((x, y) => y[1] - x[1])
    .map(([status, n]) => `${status} ×${n}`)
    .join(', ') || '-';

function report(phases: Phase[], opts: { seconds: number; rate: number; attackers: number; concurrency: number; parserDepth: number }): void {
  const alone = phases[0] && summarize(phases[0].victim);
  if (!alone) return;
  console.log(`
victim: ${opts.rate} req/s open loop for ${opts.seconds} s per phase ("${VICTIM_SQL}"); attackers: ${opts.attackers} accounts per kind × ${opts.concurrency} concurrent requests (closed loops); parser depth ${opts.parserDepth}
`);
  console.log(
    'phase'.padEnd(14) + 'sent'.padStart(6) + '2xx'.padStart(9) + 'p50 ms'.padStart(10) + 'p99 ms'.padStart(10) + 'p50×'.padStart(8) + 'p99×'.padStart(8) + 'loop late'.padStart(11) + '   victim non-2xx',
  );
  const verdicts: string[] = [];
  for (const phase of phases) {
    const s = summarize(phase.victim);
    const r50 = s.p50 / alone.p50;
    const r99 = s.p99 / alone.p99;
    console.log(
      phase.name.padEnd(14) +
        String(s.sent).padStart(6) +
        `${((100 * s.ok) / Math.max(1, s.sent)).toFixed(1)}%`.padStart(9) +
        s.p50.toFixed(1).padStart(10) +
        s.p99.toFixed(1).padStart(10) +
        r50.toFixed(2).padStart(8) +
        r99.toFixed(2).padStart(8) +
        `${phase.loopLateMaxMs.toFixed(1)} ms`.padStart(11) +
        `   ${listCounts(s.others)}`,
    );
    if (phase.attacks.size) {
      const met = s.fivexx === 0 && r99 <= 3;
      const why = [s.fivexx ? `${s.fivexx} 5xx/timeouts/errors` : '', r99 > 3 ? `p99 ${r99.toFixed(1)}× alone` : ''].filter(Boolean).join(', ');
      verdicts.push(`  ${phase.name.padEnd(14)}${met ? 'MET' : `MISSED (${why})`}`);
    }
  }
  console.log('\nwhat the attackers got (status ×count):');
  for (const phase of phases) {
    if (phase.busyAfterMs) console.log(`  ${phase.name.padEnd(14)}(their statements ran on for ${(phase.busyAfterMs / 1000).toFixed(1)} s after their requests ended)`);
    for (const [kind, counts] of phase.attacks) {
      const sent = [...counts.values()].reduce((t, n) => t + n, 0);
      console.log(`  ${phase.name.padEnd(14)}${kind.padEnd(11)}sent ${String(sent).padStart(5)}: ${listCounts(counts)}`);
    }
  }
  console.log('\ngoal (victim: no 5xx, timeout or error; p99 under attack ≤ 3× alone):');
  for (const v of verdicts) console.log(v);
  const after = phases.at(-1)?.name === 'alone, after' ? summarize(phases.at(-1)!.victim) : undefined;
  const drift = after ? after.p99 / alone.p99 : 1;
  if (drift > 2 || drift < 0.5) {
    console.log(`noise: the victim's p99 alone was ${drift.toFixed(2)}× as long after the attacks as before (another load on the machine, or a host that did not recover); weigh the ratios with care or run again`);
  }
  const all = verdicts.length > 0 && verdicts.every((v) => v.endsWith('MET'));
  console.log(aborted ? 'overall: no verdict (interrupted, the phases above are partial)' : `overall: ${all ? 'MET' : 'MISSED'}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
