/**
 * `npm run bench -- mysql-tls [--rounds 300]`
 *
 * What TLS with the server verified (lambdas/adapters/mysql-tls.ts) costs a MySQL connection,
 * measured in the same run against plain TCP on a MariaDB of the bench's own (the local
 * certificate, TLS offered but not required, so both can connect):
 *   (a) plain TCP: connect, SELECT 1, close (the baseline for a new connection),
 *   (b) TLS, a new ssl object each time (a full handshake every time),
 *   (c) TLS, OctoDB's one shared ssl object (mysql2 resumes the TLS session),
 *   (d) SELECT of 64 KiB on an open plain connection (the baseline per statement),
 *   (e) the same on an open TLS connection.
 * Rounds alternate between the variants, so load on the machine falls on all of them alike.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Connection, createConnection } from 'mysql2/promise';
import { mysqlTls } from '#adapters/mysql-tls';
import { loadConfig } from '#shared/config';
import { startOwnMariaDb } from '../test/support/fault-servers.ts';
import { percentile, summary } from './stats.ts';

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '300' } } });
  const rounds = Number(values.rounds);
  const caFile = loadConfig().OCTODB_MYSQL_CA_FILE;
  const ca = readFileSync(caFile, 'utf8');
  const mariadb = await startOwnMariaDb({
    serverArgs: [`--ssl-ca=${caFile}`, `--ssl-cert=${join(dirname(caFile), 'server-cert.pem')}`, `--ssl-key=${join(dirname(caFile), 'server-key.pem')}`],
  });
  const login = { host: '127.0.0.1', port: mariadb.port, user: 'octodb', password: 'octodb' };
  const shared = mysqlTls(ca, caFile);
  const roundTrip = async (ssl?: ReturnType<typeof mysqlTls>) => {
    const conn = await createConnection({ ...login, ssl });
    await conn.query('SELECT 1');
    await conn.end();
  };
  const BIG = "SELECT REPEAT('x', 65536) AS v";
  let plain: Connection | undefined;
  let tls: Connection | undefined;
  try {
    plain = await createConnection(login);
    tls = await createConnection({ ...login, ssl: shared });
    const runs: Array<{ name: string; op: () => Promise<unknown>; samples: number[] }> = [
      { name: '(a) new connection, plain TCP', op: () => roundTrip(), samples: [] },
      { name: '(b) new connection, TLS, full handshake', op: () => roundTrip(mysqlTls(ca, caFile)), samples: [] },
      { name: '(c) new connection, TLS, shared ssl object', op: () => roundTrip(shared), samples: [] },
      { name: '(d) 64 KiB SELECT, open plain connection', op: () => plain!.query(BIG), samples: [] },
      { name: '(e) 64 KiB SELECT, open TLS connection', op: () => tls!.query(BIG), samples: [] },
    ];
    for (const run of runs) await run.op(); // warm-up
    for (let i = 0; i < rounds; i++) {
      for (const run of runs) {
        const start = performance.now();
        await run.op();
        run.samples.push(performance.now() - start);
      }
    }
    const p50 = (name: string) => percentile(runs.find((r) => r.name.startsWith(name))!.samples, 50);
    for (const run of runs) {
      const baseline = run.name.startsWith('(d)') || run.name.startsWith('(e)') ? p50('(d)') : p50('(a)');
      console.log(`${run.name.padEnd(46)} ${summary(run.samples)}  ×${(percentile(run.samples, 50) / baseline).toFixed(2)} of its baseline`);
    }
  } finally {
    await Promise.allSettled([plain?.end(), tls?.end()]);
    await mariadb.stop();
  }
}
