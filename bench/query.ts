/**
 * `npm run bench -- query [--seconds 5] [--concurrency 8] [--tenants 8]`
 *
 * POST /query through the local gateway (authorizer, handler, validator, tenant pool) against,
 * in the same run, with the same closed-loop client and concurrency:
 *   (a) the same parameterised SELECT straight through a mysql2 pool (the database floor), and
 *   (b) a bare Node HTTP server answering a fixed JSON body (what HTTP alone costs here).
 * A fourth run spreads /query over several tenants so every statement switches MySQL user.
 * Goal (issue 4): /query throughput ≥ 50% of (b), and p50 ≤ 1 ms above (b).
 * Batches (issue 14): one request holding 10 statements in one transaction against 10 single
 * requests in a row and against one single request (the same SELECT each time), with one client:
 * the cost of a request, not the wait for the tenant's capped connections (a batch holding its
 * connection past OCTODB_QUERY_SLOW_STATEMENT_MS makes its tenant "slow", capped to one).
 * Goal: the 10-statement transaction's p50 under 3× one single request's.
 *
 * Every /query writes a query log record. The "/query" runs carry the whole local pipeline
 * (queue → L1 on its worker thread → dynalite on its own), and a run's time lasts until its records
 * are stored, so no run leaves a backlog for the next to pay. "/query, request path" measures
 * /query's own work, as on AWS where L1 and DynamoDB run elsewhere: its records go through the same
 * buffer to a local queue (the SQS stand-in) whose consumer counts them (all must arrive) instead of
 * storing them. "bare HTTP + mysql2" is the floor of any /query: the bare server plus one round trip.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SQSEvent } from 'aws-lambda';
import { parseArgs } from 'node:util';

interface Stats {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  perSecond: number;
}

const SQL = 'SELECT id, name, email FROM customers WHERE id = ?';
/** Statements in the batch run, and single requests in a row it is compared with. */
const BATCH = 10;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' }, tenants: { type: 'string', default: '8' } },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const tenantCount = Number(values.tenants);
  // One log line per query would measure stdout, not /query (the log pipeline is its own issue).
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  const { startTestOctoDb } = await import('../test/support/octodb.ts');
  const { createPool } = await import('mysql2/promise');
  const { LocalLogQueue } = await import('#adapters/local-log-queue');
  const { BufferedLogSink } = await import('#adapters/buffered-log-sink');
  const { LOG_PIPELINE } = await import('#shared/log-pipeline');

  // Rate limits on, at a plan high enough never to refuse: the runs pay the limiter's real cost.
  const octo = await startTestOctoDb({ OCTODB_RATE_QUERY: '1000000/s burst 1000000' });
  const bare = createServer((_req, res) => {
    const body = JSON.stringify({ message: 'Query executed successfully', rowsAffected: 1, data: [{ id: '1', name: 'bench', email: 'b@example.com' }], truncated: false });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  // The floor of any /query: the bare server plus the one MySQL round trip every statement needs.
  let floorPool: ReturnType<typeof createPool> | undefined;
  const floor = createServer((req, res) => {
    req.resume();
    // `/tx`: the floor of a batch, BATCH round trips inside START TRANSACTION … COMMIT on one connection.
    const work = req.url === '/tx' ? floorTransaction : async () => (await floorPool!.execute(SQL, [1]))[0];
    req.on('end', () =>
      void work().then((rows) => {
        const body = JSON.stringify({ message: 'Query executed successfully', rowsAffected: 1, data: rows, truncated: false });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }),
    );
  });
  const floorTransaction = async () => {
    const conn = await floorPool!.getConnection();
    try {
      await conn.query('START TRANSACTION');
      const results = [];
      for (let i = 0; i < BATCH; i++) results.push((await conn.execute(SQL, [1]))[0]);
      await conn.query('COMMIT');
      return results;
    } finally {
      conn.release();
    }
  };
  await new Promise<void>((resolve) => floor.listen(0, '127.0.0.1', resolve));
  const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}/`;
  try {
    console.log(`setting up ${tenantCount} tenants…`);
    const tenants = await Promise.all(
      Array.from({ length: tenantCount }, async () => {
        const t = await octo.signUp();
        await octo.waitForDatabase(t.db_id, 120_000);
        const token = await octo.token(t.email, t.password);
        await octo.post('/query', { query: 'INSERT INTO customers (id, name, email) VALUES (1, ?, ?)', params: ['bench', 'b@example.com'] }, token);
        return { ...t, token };
      }),
    );
    const first = tenants[0]!;
    const login = await (await octo.parts.get('tenantLogins')).resolve(first.tenant_id, first.db_id);
    const direct = createPool({
      host: login.host.endpoint,
      port: login.host.port,
      user: login.user,
      password: login.password,
      database: login.database,
      ssl: await octo.parts.get('mysqlTls'),
      connectionLimit: concurrency,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    floorPool = direct;

    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const queryBody = JSON.stringify({ query: SQL, params: [1] });
    const batchBody = JSON.stringify({ statements: Array.from({ length: BATCH }, () => ({ query: SQL, params: [1] })), transaction: true });
    const post = (url: string, body: string, token?: string) => httpPost(agent, url, body, token);
    // The request-path run's log port: the same buffer and queue, a consumer that counts what arrives.
    let counted = 0;
    const countingQueue = new LocalLogQueue(async (event: SQSEvent) => void (counted += event.Records.length), { batchSize: LOG_PIPELINE.batchSize });
    const counting = new BufferedLogSink(countingQueue);
    const stored = async () => (await octo.parts.flush(), await octo.logQueue.idle());
    let restore = () => {};
    const requestPath = {
      before: () => void (restore = octo.parts.override({ queryLogs: counting })),
      after: async () => {
        restore();
        await counting.flush();
        await countingQueue.idle();
      },
    };
    let turn = 0;
    const runs: Run[] = [
      { name: 'bare HTTP server', op: () => post(bareUrl, queryBody) },
      { name: 'mysql2 pool, direct', op: async () => ((await direct.execute(SQL, [1]))[0] as unknown[]).length === 1 },
      { name: '/query, 1 tenant', op: () => post(`${octo.url}/query`, queryBody, first.token), after: stored },
      { name: `/query, ${tenantCount} tenants`, op: () => post(`${octo.url}/query`, queryBody, tenants[turn++ % tenants.length]!.token), after: stored },
      { name: '/query, request path', op: () => post(`${octo.url}/query`, queryBody, first.token), ...requestPath },
      { name: 'bare HTTP + mysql2', op: () => post(floorUrl, queryBody) },
      { name: 'bare HTTP + mysql2, 1 client', op: () => post(floorUrl, queryBody), clients: 1 },
      { name: `bare HTTP + ${BATCH} in 1 tx, 1 client`, op: () => post(`${floorUrl}tx`, queryBody), clients: 1 },
      { name: '/query, 1 client', op: () => post(`${octo.url}/query`, queryBody, first.token), after: stored, clients: 1 },
      { name: `/query, ${BATCH} requests, 1 client`, op: () => inTurn(BATCH, () => post(`${octo.url}/query`, queryBody, first.token)), after: stored, clients: 1 },
      { name: `/query, ${BATCH} in 1 tx, 1 client`, op: () => post(`${octo.url}/query`, batchBody, first.token), after: stored, clients: 1 },
    ];
    for (const run of runs) await drive(run, concurrency, 1); // warm-up: JIT, pools, caches
    // The machine is shared: runs take turns in short slices, so a burst of load elsewhere
    // falls on all of them alike instead of on whichever happened to run then.
    const slices = runs.map(() => [] as Sample[]);
    const handedOver = counted;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, run] of runs.entries()) slices[i]!.push(await drive(run, concurrency, seconds / ROUNDS));
    }
    const results = runs.map(({ name }, i) => ({ name, ...combine(slices[i]!) }));
    const requestPathRuns = results[4]!.requests;
    if (counted - handedOver !== requestPathRuns) throw new Error(`request path: ${requestPathRuns} queries but ${counted - handedOver} log records`);
    countingQueue.close();
    await direct.end();
    agent.destroy();
    report(results, concurrency);
  } finally {
    bare.close();
    floor.close();
    await octo.close();
  }
}

const ROUNDS = 5;

/** `n` requests one after another, as an app without batches sends them: all must succeed. */
async function inTurn(n: number, op: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < n; i++) if (!(await op())) return false;
  return true;
}

interface Run {
  name: string;
  op: () => Promise<boolean>;
  before?: () => void;
  /** Work the run caused that must finish within its time (its log records being stored). */
  after?: () => Promise<unknown>;
  /** Concurrency of this run when not the run's `--concurrency`. */
  clients?: number;
}

interface Sample {
  latencies: number[];
  errors: number;
  seconds: number;
}

function combine(samples: Sample[]): Omit<Stats, 'name'> {
  const latencies = samples.flatMap((s) => s.latencies).sort((x, y) => x - y);
  const seconds = samples.reduce((t, s) => t + s.seconds, 0);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const errors = samples.reduce((t, s) => t + s.errors, 0);
  return { requests: latencies.length, errors, seconds, p50: at(0.5), p99: at(0.99), perSecond: latencies.length / seconds };
}

/** A closed loop: `concurrency` workers, each sending its next request when the last answered. */
async function drive({ op, before, after, clients }: Run, concurrency: number, seconds: number): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  before?.();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients ?? concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const ok = await op().catch(() => false);
        latencies.push(performance.now() - t0);
        if (!ok) errors++;
      }
    }),
  );
  await after?.();
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

function httpPost(agent: Agent, url: string, body: string, token?: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function report(results: Stats[], concurrency: number): void {
  const [bare, direct, query, spread, path, floor, floorOne, floorBatch, one, singles, batch] = results as [Stats, Stats, Stats, Stats, Stats, Stats, Stats, Stats, Stats, Stats, Stats];
  console.log(`\nconcurrency ${concurrency}, closed loop, client on this machine, ${ROUNDS} interleaved rounds\n`);
  console.log('run'.padEnd(24) + 'req/s'.padStart(10) + 'p50 ms'.padStart(10) + 'p99 ms'.padStart(10) + 'errors'.padStart(8));
  for (const r of results) {
    console.log(
      r.name.padEnd(24) + r.perSecond.toFixed(0).padStart(10) + r.p50.toFixed(3).padStart(10) + r.p99.toFixed(3).padStart(10) + String(r.errors).padStart(8),
    );
  }
  const pct = (x: Stats, y: Stats) => `${((100 * x.perSecond) / y.perSecond).toFixed(0)}%`;
  const diff = (x: Stats, y: Stats) => `${(x.p50 - y.p50 >= 0 ? '+' : '') + (x.p50 - y.p50).toFixed(3)} ms`;
  console.log(`
/query (1 tenant) vs bare HTTP:     throughput ${pct(query, bare)} (goal ≥ 50%), p50 ${diff(query, bare)} (goal ≤ +1 ms)
/query (${spread.name.split(', ')[1]}) vs bare HTTP:   throughput ${pct(spread, bare)}, p50 ${diff(spread, bare)}
/query (1 tenant) vs direct mysql2: throughput ${pct(query, direct)}, p50 ${diff(query, direct)}
/query request path vs bare HTTP:   throughput ${pct(path, bare)} (goal ≥ 50%), p50 ${diff(path, bare)} (goal ≤ +1 ms)
bare HTTP + mysql2 vs bare HTTP:    throughput ${pct(floor, bare)}, p50 ${diff(floor, bare)} (the floor: HTTP plus one MySQL round trip)
goal, logs stored locally: ${met(query, bare)}; goal, request path: ${met(path, bare)}
one client: ${BATCH} statements in 1 transaction vs 1 request: p50 ×${(batch.p50 / one.p50).toFixed(2)} (goal < 3: ${batch.p50 < 3 * one.p50 ? 'MET' : 'MISSED'}), statements/s ×${((BATCH * batch.perSecond) / one.perSecond).toFixed(2)}
one client: ${BATCH} single requests vs 1 request:      p50 ×${(singles.p50 / one.p50).toFixed(2)}; the transaction vs them: p50 ×${(batch.p50 / singles.p50).toFixed(2)}
one client, the floor (bare HTTP + mysql2): ${BATCH} in 1 transaction vs 1 statement: p50 ×${(floorBatch.p50 / floorOne.p50).toFixed(2)}`);
}

function met(query: Stats, bare: Stats): string {
  return query.perSecond >= bare.perSecond / 2 && query.p50 - bare.p50 <= 1 ? 'MET' : 'MISSED';
}
