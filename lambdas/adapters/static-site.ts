import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { GatewayRoute } from '#shared/http-api';

/**
 * The built web portal (lib/portal, `npm run portal:build`) as routes the gateway answers itself,
 * one per file, like GET /health: the local gateway serves them beside the API, and on AWS the
 * API's own stage does (MOCK integrations, lib/api.ts). Read once into memory: only files there
 * at start are served, so no request path ever reaches the file system.
 */

/** A portal build is a few text files of tens of KB; API Gateway caps a mapping template at 300 KB (base64 grows a file by a third). */
const MAX_FILES = 20;
const MAX_FILE_BYTES = 200 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

/** The built portal in `dir` as GET routes (`/` is index.html); undefined when `dir` holds no build. */
export function siteRoutes(dir: string): GatewayRoute[] | undefined {
  let files: string[];
  try {
    if (!statSync(join(dir, 'index.html')).isFile()) return undefined;
    files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => statSync(join(dir, name)).isFile());
  } catch {
    return undefined;
  }
  if (files.length > MAX_FILES) throw new Error(`${dir} holds ${files.length} files: more than a portal build (${MAX_FILES})`);
  return files.flatMap((name) => {
    const type = TYPES[extname(name)];
    const body = readFileSync(join(dir, name), 'utf8');
    // Text only, ASCII only: API Gateway answers a file as a template's text, decoded from base64.
    if (!type || body.length > MAX_FILE_BYTES || !/^[\x00-\x7f]*$/.test(body)) throw new Error(`${name}: the portal serves ASCII ${Object.keys(TYPES).join(' ')} files up to ${MAX_FILE_BYTES} bytes`);
    const path = `/${relative(dir, join(dir, name)).split(sep).join('/')}` as const;
    const headers: Record<string, string> = {
      'content-type': type,
      // Vite names what it emits under assets/ by content hash: cached for good; the rest revalidated.
      'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // The page's Content-Security-Policy is its <meta> (lib/portal/index.html): API Gateway's
      // static header values cannot hold the policy's quotes. frame-ancestors has no <meta> form.
      ...(type.startsWith('text/html') ? { 'x-frame-options': 'DENY' } : {}),
    };
    const route = (p: `/${string}`): GatewayRoute => ({ method: 'GET', path: p, answer: { statusCode: 200, headers, body } });
    return path === '/index.html' ? [route('/'), route(path)] : [route(path)];
  });
}
