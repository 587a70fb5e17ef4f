import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Route } from '#adapters/local-gateway';
import { siteRoutes } from '#adapters/static-site';
import { databaseName } from '#core/ids';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { buildPortal } from '../../lib/portal-build.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

/** Debian's chromium package (.ci/run installs it through bin/setup.sh --browser); without it this file is skipped. */
const CHROMIUM = '/usr/bin/chromium';
/** Where the screenshots of a run go (git-ignored): one PNG per step, named by step. */
const SCREENSHOTS = join(import.meta.dirname, '..', '..', '.vitest', 'portal-screenshots');
const STEP_MS = 60_000;

// The web portal in headless Chromium, as a person uses it: sign up → ready → migrate → query → the
// row. Served twice from one build: by OctoDB's own gateway (the page and the API on one origin,
// as `npm start` and the API's stage serve it), and from another origin whose config.json names
// the API, so every call is a real cross-origin request with CORS preflights.
let octo: TestOctoDb;
let portal: ReturnType<typeof createGateway>;
let portalUrl: string;
let dir: string;
let browser: BrowserContext;
let page: Page;
const requests: string[] = [];
const profile = mkdtempSync(join(tmpdir(), 'octodb-chromium-'));

const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

describe.skipIf(!serversUp || !existsSync(CHROMIUM))('the web portal in Chromium: sign up → ready → migrate → query → the row', () => {
  beforeAll(async () => {
    dir = buildPortal();
    // The other origin: a gateway serving only the portal's files, and a config.json naming the API once it is up.
    const routes: Route[] = [...siteRoutes(dir)!];
    portal = createGateway({ routes, authorizer: () => Promise.reject(new Error('no API here')), edge: { corsOrigins: [], maxBodyBytes: 1024 } });
    await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
    portalUrl = `http://127.0.0.1:${(portal.address() as AddressInfo).port}`;
    octo = await startTestOctoDb({ OCTODB_PORTAL_DIR: dir, OCTODB_CORS_ORIGINS: portalUrl });
    routes.push({ method: 'GET', path: '/config.json', answer: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiUrl: octo.url }) } });

    rmSync(SCREENSHOTS, { recursive: true, force: true });
    mkdirSync(SCREENSHOTS, { recursive: true });
    // A fresh profile each run; the flags a CI container needs (no sandbox, no GPU, no background traffic).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
      viewport: { width: 1200, height: 900 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(STEP_MS);
    page.on('request', (request) => requests.push(request.url()));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => portal?.close(resolve));
    await octo?.close();
    for (const made of [profile, dir]) if (made) rmSync(made, { recursive: true, force: true });
  });

  it('is served by OctoDB’s own gateway at / (npm start), framed by no one', async () => {
    const answer = await page.goto(`${octo.url}/`);
    expect(answer?.status()).toBe(200);
    expect(answer?.headers()['x-frame-options']).toBe('DENY');
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await shoot('01-same-origin');
  });

  let dbId: string;
  it('signs up from another origin (CORS) and watches the database turn from provisioning to ready', async () => {
    await page.goto(`${portalUrl}/`);
    const form = page.getByRole('form', { name: 'Create an account' });
    await form.getByLabel('Name').fill('Ada');
    await form.getByLabel('Email').fill(uniqueEmail());
    await form.getByLabel('Password').fill('correct horse battery');
    await form.getByRole('button', { name: 'Sign up' }).click();
    const databases = page.getByRole('table', { name: 'Databases' });
    await databases.locator('[data-state]').first().waitFor();
    await shoot('02-signed-up');
    await databases.locator('[data-state="ready"]').waitFor();
    dbId = (await databases.locator('code').first().textContent())!;
    expect(dbId).toMatch(/^[0-9a-f]{32}$/);
    await shoot('03-ready');
  });

  it('reviews the plan, applies a migration, watches its job through its stages and finds it in the history', async () => {
    await page.getByRole('tab', { name: 'Migrate' }).click();
    await page.getByRole('button', { name: 'Review plan' }).click();
    const plan = page.locator('.plan');
    await plan.waitFor();
    const planned = page.getByRole('table', { name: 'Planned changes' }).locator('tbody tr');
    expect(await planned.locator('td').first().textContent()).toBe('items');
    expect(await planned.locator('td').nth(1).textContent()).toBe('create');
    expect(await planned.locator('pre').textContent()).toMatch(/^CREATE TABLE `items`/);
    // The plan applied nothing.
    const [before] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [databaseName(dbId), 'items']);
    expect(Number(before[0]!.n)).toBe(0);
    await shoot('04-plan');
    await plan.getByRole('button', { name: 'Apply' }).click();
    const jobs = page.getByRole('table', { name: 'Jobs' });
    await jobs.locator('tr[data-job-state="succeeded"]').waitFor();
    expect(await jobs.locator('tr[data-job-state] td').first().textContent()).toBe('items');
    expect(await jobs.locator('.stage-ok').allTextContents()).toEqual(['backup', 'update', 'validate']);
    const history = page.getByRole('table', { name: 'Migration history' });
    await history.getByRole('cell', { name: 'items', exact: true }).waitFor();
    await shoot('05-migrated');
  });

  it('inserts a row with a query, reads it back in a table, and the row is in MySQL', async () => {
    await page.getByRole('tab', { name: 'Query' }).click();
    const sql = page.getByLabel('SQL (one statement)');
    await sql.fill("INSERT INTO items (name) VALUES ('hello from the portal')");
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByText('1 affected').waitFor();
    await sql.fill('SELECT id, name FROM items');
    await page.getByRole('button', { name: 'Run' }).click();
    const result = page.getByRole('table', { name: 'Query result' });
    await result.getByRole('cell', { name: 'hello from the portal' }).waitFor();
    expect(await result.locator('th').allTextContents()).toEqual(['id', 'name']);
    await shoot('06-query');
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT name FROM \`${databaseName(dbId)}\`.items`);
    expect(rows.map((r) => r.name)).toEqual(['hello from the portal']);
  });

  it('shows the table’s columns, the logs and the query statistics chart', async () => {
    await page.getByRole('tab', { name: 'Tables' }).click();
    await page.getByRole('button', { name: 'items' }).click();
    const columns = page.getByRole('table', { name: 'Columns of items' });
    await columns.getByRole('cell', { name: 'name', exact: true }).waitFor();
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByRole('table', { name: 'Log records' }).locator('tr').first().waitFor();
    await page.getByRole('tab', { name: 'Statistics' }).click();
    await page.getByRole('img', { name: 'Queries per statement type' }).getByText('INSERT').waitFor();
    await shoot('07-statistics');
  });

  it('shows an admin a parent change cascading to its child database', async () => {
    const admin = { name: 'Ops', email: uniqueEmail(), password: 'admin-password-1' };
    const parent = (await adminFunction(admin)) as { db_id: string };
    expect(parent.db_id).toMatch(/^[0-9a-f]{32}$/);
    const child = await octo.signUp({ template: parent.db_id });
    expect((await octo.waitForDatabase(child.db_id)).status).toBe('ready');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Have an account? Sign in' }).click();
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill(admin.email);
    await form.getByLabel('Password').fill(admin.password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.badge-admin').waitFor();
    await page.getByRole('table', { name: 'Databases' }).locator('[data-state="ready"]').waitFor();
    // The admin's Children panel (list_children): the child made from its database, by db_id only.
    const childRows = page.getByRole('table', { name: 'Children', exact: true }).locator('tbody tr');
    await childRows.first().waitFor();
    expect(await childRows.locator('td:first-child code').allTextContents()).toEqual([child.db_id]);
    expect(await childRows.locator('[data-state]').allTextContents()).toEqual(['ready']);
    await page.getByRole('tab', { name: 'Migrate' }).click();
    await page.getByRole('button', { name: 'Review plan' }).click();
    await page.locator('.plan').getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('button', { name: /^cascade to children: 1 done$/ }).click();
    const children = page.getByRole('table', { name: 'Jobs' });
    // A cascade's job row names its child (a <code> db_id): until the cascade loads, the table still shows the parent's job.
    await children.locator('tr[data-job-state="succeeded"] code').waitFor();
    expect(await children.locator('tr[data-job-state] code').allTextContents()).toEqual([child.db_id]);
    expect(await page.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('1');
    expect(await children.locator('.stages li').allTextContents()).toEqual(['update', 'validate', 'verify']);
    await shoot('08-cascade');
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'items'`, [databaseName(child.db_id)]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('called the API cross-origin with the token in a header only: never in a URL', async () => {
    const saved = await page.evaluate<string | null>("sessionStorage.getItem('octodb.session')");
    const { token } = JSON.parse(saved ?? '{}') as { token?: string };
    expect(token).toMatch(/^ey/);
    expect(requests.some((url) => url.startsWith(`${octo.url}/dashboard`))).toBe(true);
    expect(requests.filter((url) => url.includes(token!))).toEqual([]);
    expect(requests.every((url) => !url.includes('token='))).toBe(true);
  });
});
