import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cascadeBatchId } from '#core/cascade';
import { databaseName, databaseUser, newDbId } from '#core/ids';
import { faultServersMissing, type OwnMariaDb, type OwnOctoDb, type OwnRedis, startOwnMariaDb, startOwnOctoDb, startOwnRedis } from '../support/fault-servers.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// Issue 11, "Recovery in seconds" and "Tests that must exist": crashes and outages of the servers
// OctoDB stands on, injected for real. This file starts its own MariaDB (own datadir and port) and
// Redis (own port) and runs `npm start` (bin/local.ts) as a process of its own on them, so it can
// SIGKILL any of the three and start it again; every scenario reads rows and schema back.
const CHILDREN = 100;
const ROWS = 2000;
/** The issue's bound: a cascade interrupted by a crash is done within this of the restart. */
const RECOVERS_WITHIN_MS = 60_000;

let mariadb: OwnMariaDb;
let redis: OwnRedis;
let work: string;
let sql: Connection;
let octo: OwnOctoDb | undefined;

const query = async (text: string, params: unknown[] = []) => (await sql.query<RowDataPacket[]>(text, params))[0];
const meta = (table: string) => `octodb_meta.${table}`;
const startOcto = async () => (octo = await startOwnOctoDb({ mariadb, redis, work }));

const post = async (path: string, body: unknown, token?: string) => {
  const res = await fetch(`${octo!.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const PRODUCTS = 'CREATE TABLE products (id int NOT NULL AUTO_INCREMENT, name varchar(64) NOT NULL, price int NOT NULL, PRIMARY KEY (id))';
/** Each parent change adds a column with an index (the index build reads every row of each child). */
const withColumns = (columns: string[]) =>
  `CREATE TABLE products (id int NOT NULL AUTO_INCREMENT, name varchar(64) NOT NULL, price int NOT NULL, ${columns.map((c) => `${c} varchar(32) NOT NULL DEFAULT '', `).join('')}PRIMARY KEY (id)${columns.map((c) => `, KEY ix_${c} (${c})`).join('')})`;

interface Family {
  token: string;
  parent: string;
  children: string[];
}

/**
 * An admin with a parent database holding `products`, and CHILDREN databases made from it with ROWS
 * rows each, written straight into MetaDB and MySQL (the cascade is the subject, not 100 signups).
 */
async function family(): Promise<Family> {
  const password = 'fault-admin-password';
  const adminId = randomUUID();
  const email = `fault-${randomBytes(4).toString('hex')}@example.com`;
  await query(`INSERT INTO ${meta('tenants')} (tenant_id, name, email, password_hash, is_admin) VALUES (?, 'Ops', ?, ?, 1)`, [adminId, email, await bcrypt.hash(password, 4)]);
  const ownerId = randomUUID();
  await query(`INSERT INTO ${meta('tenants')} (tenant_id, name, email, password_hash) VALUES (?, 'Children', ?, ?)`, [ownerId, `c-${email}`, await bcrypt.hash(password, 4)]);
  const parentId = newDbId();
  const parent = databaseName(parentId);
  const addDatabase = (dbId: string, tenantId: string, template: string) =>
    query(`INSERT INTO ${meta('tenant_databases')} (db_id, tenant_id, host_id, template, status, mysql_user) VALUES (?, ?, 'local', ?, 'ready', ?)`, [dbId, tenantId, template, databaseUser(dbId)]);
  await query(`CREATE DATABASE ${parent} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await query(`${PRODUCTS.replace('products', `${parent}.products`)}`);
  await addDatabase(parentId, adminId, 'default');
  const children: string[] = [];
  for (let i = 0; i < CHILDREN; i++) {
    const dbId = newDbId();
    const db = databaseName(dbId);
    await query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await query(`CREATE TABLE ${db}.products LIKE ${parent}.products`);
    await query(`INSERT INTO ${db}.products (name, price) SELECT CONCAT('item-', seq), seq FROM ${db}.seq_1_to_${ROWS}`);
    await addDatabase(dbId, ownerId, parentId);
    children.push(db);
  }
  const token = await post('/token', { email, password });
  expect(token.status).toBe(200);
  return { token: String(token.body.token), parent, children };
}

/** Submits a parent change; returns its cascade batch's id (derived from the parent job's). */
async function changeParent(f: Family, columns: string[]): Promise<{ batchId: string; cascadeId: string }> {
  const res = await post('/migrate', { sql: `${withColumns(columns)};` }, f.token);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const jobs = res.body.jobs as Array<{ job_id: string }>;
  return { batchId: String(res.body.batch_id), cascadeId: cascadeBatchId(jobs[0]!.job_id) };
}

/** How many children have this column already (read from the server, not from OctoDB's records). */
async function childrenWith(f: Family, column: string): Promise<number> {
  const [row] = await query(`SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 'products' AND column_name = ? AND table_schema IN (?)`, [column, f.children]);
  return Number(row!.n);
}

const cascadeStates = async (cascadeId: string) =>
  Object.fromEntries((await query(`SELECT state, COUNT(*) AS n FROM ${meta('migration_jobs')} WHERE batch_id = ? GROUP BY state`, [cascadeId])).map((r) => [r.state, Number(r.n)]));

/** Waits until every child's job succeeded and the batch is finished; returns when. */
async function cascadeDone(cascadeId: string, timeoutMs: number): Promise<number> {
  await waitFor(
    async () => {
      const [batch] = await query(`SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = ?`, [cascadeId]);
      return batch?.finished_at && (await cascadeStates(cascadeId)).succeeded === CHILDREN;
    },
    { timeoutMs, intervalMs: 100, what: `cascade ${cascadeId}: all ${CHILDREN} children succeeded and the batch finished` },
  );
  return Date.now();
}

const showCreate = async (db: string) => String((await query(`SHOW CREATE TABLE ${db}.products`))[0]!['Create Table']).replace(/ AUTO_INCREMENT=\d+/, '');

/** Every child has the parent's definition and all its rows. */
async function everyChildChangedWithRows(f: Family): Promise<void> {
  const parent = await showCreate(f.parent);
  for (const child of f.children) {
    expect(await showCreate(child)).toBe(parent);
    const [rows] = await query(`SELECT COUNT(*) AS n, SUM(price) AS total FROM ${child}.products`);
    expect({ child, n: Number(rows!.n), total: Number(rows!.total) }).toEqual({ child, n: ROWS, total: (ROWS * (ROWS + 1)) / 2 });
  }
}

describe.skipIf(!serversUp || faultServersMissing.length > 0)('faults injected into servers this test owns (issue 11)', () => {
  let f: Family;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'octodb-faults-'));
    [mariadb, redis] = await Promise.all([startOwnMariaDb(), startOwnRedis()]);
    sql = await mariadb.connect();
    await startOcto(); // creates MetaDB on the new server
    f = await family();
  });
  afterAll(async () => {
    await octo?.kill();
    await sql?.end().catch(() => undefined);
    await Promise.all([mariadb?.stop(), redis?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it(`a local OctoDB SIGKILLed during a cascade over ${CHILDREN} children: the restarted one finishes it within a minute, every row kept`, async () => {
    const { cascadeId } = await changeParent(f, ['sku']);
    // Killed once some children have the new column and others not: mid-cascade, mid-chunk.
    await waitFor(async () => (await childrenWith(f, 'sku')) >= 5, { timeoutMs: 60_000, intervalMs: 5, what: 'the cascade to be under way' });
    await octo!.kill();
    const alteredAtKill = await childrenWith(f, 'sku');
    expect(alteredAtKill).toBeLessThan(CHILDREN);

    const restarted = await startOcto();
    const doneAt = await cascadeDone(cascadeId, RECOVERS_WITHIN_MS);
    const sinceSpawn = doneAt - restarted.spawnedAt;
    console.log(
      `recovery after SIGKILL of the local OctoDB: ${alteredAtKill}/${CHILDREN} children altered at the kill; all done ${(sinceSpawn / 1000).toFixed(1)} s after the restart (${((doneAt - restarted.listeningAt) / 1000).toFixed(1)} s after it listened)`,
    );
    expect(sinceSpawn).toBeLessThan(RECOVERS_WITHIN_MS);
    await everyChildChangedWithRows(f);
  });

  it('MariaDB (MetaDB and every child) SIGKILLed during a cascade: once it is back the cascade finishes within a minute, every row kept', async () => {
    const { cascadeId } = await changeParent(f, ['sku', 'ean']);
    await waitFor(async () => (await childrenWith(f, 'ean')) >= 5, { timeoutMs: 60_000, intervalMs: 5, what: 'the cascade to be under way' });
    await mariadb.kill();
    await new Promise((r) => setTimeout(r, 2000)); // the outage lasting: what this test is about
    await mariadb.start(); // InnoDB's crash recovery undoes the ALTERs the kill interrupted
    const backAt = Date.now();
    sql = await mariadb.connect();
    const doneAt = await cascadeDone(cascadeId, RECOVERS_WITHIN_MS);
    console.log(`recovery after SIGKILL of MariaDB: all ${CHILDREN} children done ${((doneAt - backAt) / 1000).toFixed(1)} s after the server was back`);
    expect(octo!.child.exitCode).toBeNull(); // the OctoDB lived through it
    await everyChildChangedWithRows(f);
  });

  it('Redis SIGKILLed and started again empty during a cascade (every lock gone): the cascade finishes within a minute, every row kept', async () => {
    const { cascadeId } = await changeParent(f, ['sku', 'ean', 'tag']);
    await waitFor(async () => (await childrenWith(f, 'tag')) >= 5, { timeoutMs: 60_000, intervalMs: 5, what: 'the cascade to be under way' });
    await redis.kill();
    await redis.start();
    const backAt = Date.now();
    const doneAt = await cascadeDone(cascadeId, RECOVERS_WITHIN_MS);
    console.log(`recovery after Redis restarted empty: all ${CHILDREN} children done ${((doneAt - backAt) / 1000).toFixed(1)} s after it was back`);
    expect(octo!.child.exitCode).toBeNull();
    await everyChildChangedWithRows(f);
  });
});
