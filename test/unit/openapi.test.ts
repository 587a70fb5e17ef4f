import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { GATEWAY_ROUTES, ROUTES } from '#shared/http-api';
import { openApiDocument, renderOpenApi } from '#shared/openapi';
import { apiDocument, OPENAPI_FILE } from '../../bin/openapi.ts';
import { dashboardActions } from '../../lambdas/dashboard/actions.ts';
import { openApiValidator } from '../support/openapi.ts';

const document = apiDocument();
const validator = openApiValidator(document);
const DB_ID = '9f86d081884c7d659a2feaa0c55ad015';

describe('the OpenAPI document', () => {
  it('is what `npm run openapi` writes: docs/openapi.json matches the schemas (run it after changing them)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi(document));
  });

  it('is a valid OpenAPI 3.1 document (the official schema, checked by @seriousme/openapi-schema-validator)', async () => {
    const result = await new Validator().validate(structuredClone(document) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('holds schemas that are valid JSON Schema 2020-12 (each compiled by Ajv in strict mode, against the meta-schema)', () => {
    for (const name of Object.keys(document.components.schemas)) expect(() => validator.component(name, null), name).not.toThrow();
  });

  it('describes every route of the table, with the bearer scheme on exactly the guarded ones', () => {
    const described = Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(described.sort()).toEqual([...ROUTES, ...GATEWAY_ROUTES].map((r) => `${r.method} ${r.path}`).sort());
    for (const route of ROUTES) {
      const op = document.paths[route.path]!.post!;
      expect(op.security, route.path).toEqual(route.guarded ? [{ bearer: [] }] : []);
      for (const status of ['400', '413', '500', '502']) expect(Object.keys(op.responses), route.path).toContain(status);
      if (route.guarded) expect(validator.response('POST', route.path, 401, { message: 'Unauthorized' })).toEqual([]);
    }
  });

  it('gives every /dashboard action a request variant (its `action` a constant) and an answer', () => {
    const responses = document.paths['/dashboard']!.post!.responses['200']!['x-action-responses'] as Record<string, { $ref: string }>;
    expect(Object.keys(responses).sort()).toEqual(Object.keys(dashboardActions).sort());
    // The actions whose parameters are not all optional, with the least they need.
    const required: Record<string, object> = { create_api_key: { name: 'ci', scope: 'read' }, revoke_api_key: { key_id: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f' }, restore_table: { backup_id: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f' }, delete_account: { password: 'the password' }, restore_database: { db_id: '0123456789abcdef0123456789abcdef', to_time: '2026-01-31T12:00:00Z', target: 'new' }, get_restore_status: { restore_id: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f' } };
    for (const action of Object.keys(dashboardActions)) {
      expect(validator.request('POST', '/dashboard', { action, ...required[action] }), action).toEqual([]);
      expect(validator.request('POST', '/dashboard', { action, ...required[action], tenant_id: 'x' }), action).not.toEqual([]);
    }
    expect(validator.request('POST', '/dashboard', { action: 'nope' })).not.toEqual([]);
  });

  it('refuses what the request schemas refuse: unknown fields, wrong types; takes what they take', () => {
    const signup = { name: 'Ada', email: 'ada@example.com', password: 'correct horse battery' };
    expect(validator.request('POST', '/signup', signup)).toEqual([]);
    expect(validator.request('POST', '/token', { email: 'ada@example.com', password: 'x', raed: true })).not.toEqual([]);
    expect(validator.request('POST', '/query', { query: 'SELECT 1', params: [1, 'a', null, true], db_id: DB_ID })).toEqual([]);
    expect(validator.request('POST', '/query', { query: 'SELECT 1', params: [{}] })).not.toEqual([]);
    expect(validator.request('POST', '/migrate', { sql: 'CREATE TABLE t (id int PRIMARY KEY);', allow_unsafe: 'yes' })).not.toEqual([]);
    expect(validator.request('POST', '/migrate', { drop_tables: ['orders'], dry_run: true, allow_unsafe: true })).toEqual([]);
    expect(validator.request('POST', '/migrate', { drop_tables: ['a;b'], dry_run: true })).not.toEqual([]);
  });

  it('refuses an answer with a field it does not describe, or without a required one', () => {
    const token = { token: 'a.b.c', expires_at: '2026-11-25T06:00:00.000Z' };
    expect(validator.response('POST', '/token', 200, token)).toEqual([]);
    expect(validator.response('POST', '/token', 200, { ...token, tenant_id: 'x' })).not.toEqual([]);
    expect(validator.response('POST', '/token', 200, { token: 'a.b.c' })).not.toEqual([]);
    expect(validator.response('POST', '/query', 400, { error: 'Invalid request', problems: [{ field: 'x', problem: 'unknown field' }] })).toEqual([]);
    expect(validator.response('POST', '/query', 400, { error: 'Invalid request', problem: 'x' })).not.toEqual([]);
  });

  it("describes each route's own error fields, and not on the others", () => {
    expect(validator.response('POST', '/dashboard', 400, { error: 'Unknown action: x', valid_actions: ['get_user_info'] })).toEqual([]);
    expect(validator.response('POST', '/query', 400, { error: 'Unknown action: x', valid_actions: ['get_user_info'] })).not.toEqual([]);
    expect(validator.response('POST', '/query', 409, { error: 'Database is provisioning', status: 'provisioning' })).toEqual([]);
    expect(validator.response('POST', '/migrate', 409, { error: 'Database is provisioning', status: 'provisioning' })).not.toEqual([]);
    expect(validator.response('POST', '/verify', 401, { error: 'Invalid or expired code', code: 'CODE_EXPIRED' })).toEqual([]);
    expect(validator.response('POST', '/verify', 401, { error: 'Invalid or expired code', code: 'EXPIRED' })).not.toEqual([]);
    const partly = { error: 'Part of the migration could not be started', batch_id: '1b5b850a-8e3d-46b1-a326-880052827841', started: ['a'], not_started: ['b'] };
    expect(validator.response('POST', '/migrate', 503, partly)).toEqual([]);
    expect(validator.response('POST', '/query', 503, partly)).not.toEqual([]);
  });

  it('asks for Retry-After on every 503 and describes it on every 429', () => {
    for (const [path, ops] of Object.entries(document.paths)) {
      for (const op of Object.values(ops)) {
        if (op.responses['503']) expect(op.responses['503'].headers?.['Retry-After']?.required, path).toBe(true);
        if (op.responses['429']) expect(op.responses['429'].headers?.['Retry-After'], path).toBeDefined();
      }
    }
  });

  it('refuses to describe a /dashboard action that has no answer schema', () => {
    expect(() => openApiDocument({ ...dashboardActions, drop_everything: { params: z.strictObject({ action: z.string() }) } }, '0')).toThrow(
      /dashboard action drop_everything has no answer schema/,
    );
  });
});
