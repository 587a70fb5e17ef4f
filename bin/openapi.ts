/**
 * `npm run openapi`: writes docs/openapi.json from the schemas (lambdas/shared/openapi.ts).
 * test/unit/openapi.test.ts fails while the file differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openApiDocument, renderOpenApi, type OpenApiDocument } from '#shared/openapi';
import { dashboardActions } from '../lambdas/dashboard/actions.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_FILE = join(ROOT, 'docs', 'openapi.json');

/** The API's document: the /dashboard actions are the handler's own table, the version package.json's. */
export function apiDocument(): OpenApiDocument {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return openApiDocument(dashboardActions, version);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(OPENAPI_FILE, renderOpenApi(apiDocument()));
  console.log(`wrote ${OPENAPI_FILE}`);
}
