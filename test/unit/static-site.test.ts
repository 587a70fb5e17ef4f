import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway } from '#adapters/local-gateway';
import { siteRoutes } from '#adapters/static-site';

const dirs: string[] = [];
/** A build directory holding `files` (path → text). */
function build(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'octodb-site-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const PORTAL = { 'index.html': '<!doctype html><script type="module" src="./assets/app-1a2b.js"></script>', 'assets/app-1a2b.js': 'console.log(1)', 'assets/app-3c4d.css': 'body{}' };

describe('the portal build as gateway routes', () => {
  it('answers / and /index.html with the page (no framing), and assets/ cached for good by their hashed names', () => {
    const routes = siteRoutes(build(PORTAL))!;
    const byPath = Object.fromEntries(routes.map((r) => [r.path, r]));
    expect(Object.keys(byPath).sort()).toEqual(['/', '/assets/app-1a2b.js', '/assets/app-3c4d.css', '/index.html']);
    expect(routes.every((r) => r.method === 'GET' && r.answer.statusCode === 200)).toBe(true);
    expect(byPath['/']!.answer).toEqual(byPath['/index.html']!.answer);
    expect(byPath['/']!.answer.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' });
    expect(byPath['/assets/app-1a2b.js']!.answer).toMatchObject({ body: 'console.log(1)', headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable' } });
  });

  it('is no portal without an index.html (not built yet) or without the directory', () => {
    expect(siteRoutes(build({ 'assets/a.js': '1' }))).toBeUndefined();
    expect(siteRoutes(join(tmpdir(), 'octodb-no-such-dir'))).toBeUndefined();
  });

  it.each([
    ['a binary or unknown file type', { 'index.html': 'x', 'logo.png': 'x' }],
    ['non-ASCII text (API Gateway decodes each file from base64 in a template)', { 'index.html': 'naïve' }],
    ['a file over 200 KB (the stage’s template limit)', { 'index.html': 'x'.repeat(200 * 1024 + 1) }],
    ['more files than a portal build has', Object.fromEntries([['index.html', 'x'], ...Array.from({ length: 20 }, (_, i) => [`assets/${i}.js`, 'x'])])],
  ])('refuses a directory holding %s', (_, files) => {
    expect(() => siteRoutes(build(files))).toThrow();
  });
});

describe('the local gateway serving the portal beside the API', () => {
  it('serves only the files it read at start: other paths, traversal and other methods are the gateway’s 403', async () => {
    const dir = build(PORTAL);
    const gateway = createGateway({ edge: { corsOrigins: [], maxBodyBytes: 1024 }, authorizer: () => Promise.reject(new Error('Unauthorized')), routes: siteRoutes(dir)! });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    try {
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(PORTAL['index.html']);
      writeFileSync(join(dir, 'later.html'), 'written after start');
      for (const path of ['/later.html', '/assets/missing.js', '/%2e%2e/%2e%2e/etc/passwd', '/assets/app-1a2b.js/']) {
        expect((await fetch(`${url}${path}`)).status, path).toBe(403);
      }
      expect((await fetch(`${url}/`, { method: 'POST', body: '{}' })).status).toBe(403);
    } finally {
      await new Promise((resolve) => gateway.close(resolve));
    }
  });
});
