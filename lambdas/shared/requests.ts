import { z } from 'zod';
import { MAX_EXPIRY_DAYS } from '#core/api-keys';
import { API_KEY_SCOPES, TENANT_ROUTES } from '#core/ports';
import { BATCH_STATES, JOB_STATES } from '#core/migration-ports';
import { parseRateLimit } from '#core/token-bucket';
import { DB_ID, SQL_IDENTIFIER, TEMPLATE_NAME } from '#core/patterns';

/** One schema per request shape, validated at the edge; the core trusts what passes. */

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A field's path as a client writes it: `statements[2].query`. */
const fieldOf = (path: PropertyKey[]): string => path.map((key, at) => (typeof key === 'number' ? `[${key}]` : `${at === 0 ? '' : '.'}${String(key)}`)).join('');

/** A request's problems, one per field; an unknown field is named itself (every schema here is strict). */
export const problemsOf = (error: z.ZodError): Array<{ field: string; problem: string }> =>
  error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ field: fieldOf([...i.path, key]), problem: 'unknown field' }))
      : [{ field: fieldOf(i.path) || '(body)', problem: i.message }],
  );

/** A request's problems as one line per field, for operator answers that are not HTTP responses. */
export const issuesOf = (error: z.ZodError, separator = '; '): string => problemsOf(error).map((p) => `${p.field}: ${p.problem}`).join(separator);

export const signupRequest = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, 'name is required')
    .max(100, 'name must be at most 100 characters')
    .refine((s) => !/\p{Cc}/u.test(s), 'name must not contain control characters'),
  email: z
    .string()
    .trim()
    .max(254, 'email must be at most 254 characters')
    .pipe(z.email('email must be a valid email address'))
    .transform((s) => s.toLowerCase()),
  password: z
    .string()
    .min(8, 'password must be at least 8 characters')
    .refine((s) => utf8Bytes(s) <= 72, 'password must be at most 72 bytes (bcrypt uses only the first 72)'),
  /** A template name, or a parent's db_id (an admin's database): the child starts with its tables. */
  template: z
    .string()
    .regex(TEMPLATE_NAME, 'template must be a template name like "default" or a parent database\'s db_id')
    .default('default'),
});
export type SignupRequest = z.infer<typeof signupRequest>;

export const verifyRequest = z.strictObject({
  email: z.string().trim().min(1, 'email is required').max(254).transform((s) => s.toLowerCase()),
  code: z.string().trim().regex(/^[0-9]{8}$/, 'code must be the 8 digits from the email'),
});
export type VerifyRequest = z.infer<typeof verifyRequest>;

export const tokenRequest = z.strictObject({
  email: z.string().trim().min(1, 'email is required').max(254).transform((s) => s.toLowerCase()),
  password: z.string().min(1, 'password is required').max(1024),
  read: z.boolean().default(false),
});
export type TokenRequest = z.infer<typeof tokenRequest>;

/** /migrate's dry run and table removals (issue 13): a plan instead of jobs; tables removed from the desired state. */
const migratePlanFields = {
  dry_run: z.boolean().default(false),
  drop_tables: z
    .array(z.string().regex(SQL_IDENTIFIER, 'a table name is [A-Za-z][A-Za-z0-9_]{0,63}'))
    .max(50, 'at most 50 tables')
    .default([]),
};

/** A db_id in any request: the same refusal of a malformed one on every route. */
export const dbIdField = z.string({ error: 'db_id must be a string' }).regex(DB_ID, 'db_id must be 32 hex characters');

export const migrateRequest = z
  .strictObject({
    sql: z
      .string({ error: 'sql must be a string' })
      .min(1, 'sql is required')
      .refine((s) => utf8Bytes(s) <= 64 * 1024, 'sql must be at most 64 KB')
      .optional(),
    db_id: dbIdField.optional(),
    allow_unsafe: z.boolean().default(false),
    /** All its tables succeed, or each one is restored from its backup (core/migration-atomic.ts). */
    atomic: z.boolean({ error: 'atomic must be true or false' }).default(false),
    ...migratePlanFields,
  })
  .refine((r) => r.sql !== undefined || r.drop_tables.length > 0, { path: ['sql'], message: 'sql is required (or drop_tables)' })
  // An atomic restore puts tables back from Skeema's backups; a dropped table's backup is a renamed table (not one of them).
  .refine((r) => !(r.atomic && r.drop_tables.length > 0), { path: ['atomic'], message: 'atomic cannot go with drop_tables' });
export type MigrateRequest = z.infer<typeof migrateRequest>;

/** /dashboard restore_table: a backup of a table removed by /migrate (list_table_backups names them). */
export const restoreTableRequest = z.strictObject({
  action: z.literal('restore_table'),
  backup_id: z.uuid('backup_id must be a uuid'),
});

/** /dashboard restore_database: one database to a past time (ISO 8601 with its offset, to the second), into a new database or in place. */
export const restoreDatabaseRequest = z.strictObject({
  action: z.literal('restore_database'),
  db_id: dbIdField,
  to_time: z.iso
    .datetime({ offset: true, error: 'to_time must be an ISO 8601 time with its offset, e.g. 2026-01-31T12:00:00Z' })
    .transform((t) => new Date(t)),
  target: z.enum(['new', 'in_place'], { error: 'target must be "new" or "in_place"' }),
});

/** /dashboard get_restore_status: a restore restore_database answered. */
export const restoreStatusRequest = z.strictObject({
  action: z.literal('get_restore_status'),
  restore_id: z.uuid('restore_id must be a uuid'),
});

/** A page's key as /dashboard handed it out; null (what the last page of the logs answers) asks for the first page. */
export const pageKeyField = z
  .string({ error: 'last_evaluated_key must be a string' })
  .min(1)
  .max(2048)
  .nullish()
  .transform((key) => key ?? undefined);

export const migrationStatusRequest = z.strictObject({
  action: z.literal('get_migration_status').optional(),
  batch_id: z.uuid('batch_id must be a uuid').optional(),
  job_id: z.uuid('job_id must be a uuid').optional(),
  limit: z.number().int().min(1).max(200).optional(),
  state: z.enum(JOB_STATES, { error: `state must be one of ${JOB_STATES.join(', ')}` }).optional(),
  last_evaluated_key: pageKeyField,
});

export const listMigrationsRequest = z.strictObject({
  action: z.literal('list_migrations'),
  db_id: dbIdField.optional(),
  state: z.enum(BATCH_STATES, { error: `state must be one of ${BATCH_STATES.join(', ')}` }).optional(),
  table: z.string({ error: 'table must be a string' }).min(1).max(64, 'table must be at most 64 characters').optional(),
  limit: z.number().int('limit must be an integer').min(1).max(100).default(25),
  last_evaluated_key: pageKeyField,
});

export const listChildrenRequest = z.strictObject({
  action: z.literal('list_children'),
  limit: z.number().int('limit must be an integer').min(1).max(100).default(50),
  last_evaluated_key: pageKeyField,
});

// --- /dashboard's API key actions (the envelope's `action` is matched by the handler) ---

/** A key's name: a label for people, shown by list_api_keys. */
export const API_KEY_NAME_MAX = 64;

export const createApiKeyRequest = z.strictObject({
  action: z.literal('create_api_key'),
  name: z
    .string({ error: 'name must be a string' })
    .trim()
    .min(1, 'name is required')
    .max(API_KEY_NAME_MAX, `name must be at most ${API_KEY_NAME_MAX} characters`)
    .refine((s) => !/\p{Cc}/u.test(s), 'name must not contain control characters'),
  scope: z.enum(API_KEY_SCOPES, { error: `scope must be one of ${API_KEY_SCOPES.join(', ')}` }),
  db_id: dbIdField.optional(),
  expires_at: z.iso.datetime({ offset: true, error: 'expires_at must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z' }).optional(),
  expires_in_days: z
    .number({ error: 'expires_in_days must be a number' })
    .int('expires_in_days must be an integer')
    .min(1, 'expires_in_days must be at least 1')
    .max(MAX_EXPIRY_DAYS, `expires_in_days must be at most ${MAX_EXPIRY_DAYS}`)
    .optional(),
});

export const listApiKeysRequest = z.strictObject({ action: z.literal('list_api_keys') });

export const revokeApiKeyRequest = z.strictObject({
  action: z.literal('revoke_api_key'),
  key_id: z.uuid('key_id must be a uuid'),
});

/** Longer statements are refused before parsing: the parser's time grows with the input. */
export const QUERY_MAX_CHARS = 65_536;
export const QUERY_MAX_PARAMS = 1000;
/** The most statements a /query batch may hold, whatever OCTODB_QUERY_BATCH_MAX_STATEMENTS says. */
export const BATCH_MAX_STATEMENTS = 100;

const sqlParam = z.union([z.string().max(QUERY_MAX_CHARS), z.number().finite(), z.boolean(), z.null()], {
  error: 'each param must be a string, a finite number, a boolean or null',
});

const queryText = z
  .string({ error: 'query must be a string' })
  .max(QUERY_MAX_CHARS, `query must be at most ${QUERY_MAX_CHARS} characters`)
  .refine((s) => /\S/.test(s), 'query is required');
const queryParams = z
  .array(sqlParam, { error: 'params must be an array' })
  .max(QUERY_MAX_PARAMS, `params must have at most ${QUERY_MAX_PARAMS} values`);

/** One statement of a batch: the same shape and limits as a single /query. */
const batchStatement = z.strictObject({ query: queryText, params: queryParams.default([]) }, { error: 'each statement must be an object {query, params?}' });

/**
 * POST /query: one statement (`query`, `params`) or a batch (`statements`, `transaction`), never
 * both. The batch's length is capped here at the most the setting allows; the core applies the
 * configured number (OCTODB_QUERY_BATCH_MAX_STATEMENTS).
 */
export const queryRequest = z
  .strictObject({
    query: queryText.optional(),
    params: queryParams.optional(),
    statements: z
      .array(batchStatement, { error: 'statements must be an array of {query, params?}' })
      .min(1, 'statements must hold at least one statement')
      .max(BATCH_MAX_STATEMENTS, `statements must hold at most ${BATCH_MAX_STATEMENTS} statements`)
      .optional(),
    transaction: z.boolean({ error: 'transaction must be true or false' }).optional(),
    db_id: z.string({ error: 'db_id must be a string' }).regex(DB_ID, 'db_id must be 32 hex characters').optional(),
  })
  .superRefine((body, ctx) => {
    if (body.statements === undefined) {
      if (body.query === undefined) ctx.addIssue({ code: 'custom', path: ['query'], message: 'query is required (or statements, for a batch)' });
      if (body.transaction !== undefined) ctx.addIssue({ code: 'custom', path: ['transaction'], message: 'transaction goes with statements (a batch)' });
    } else {
      for (const field of ['query', 'params'] as const) {
        if (body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} goes with a single statement, not with statements: send one or the other` });
      }
    }
  })
  .transform(({ query, params, statements, transaction, db_id }) =>
    statements === undefined
      ? { kind: 'single' as const, query: query ?? '', params: params ?? [], db_id }
      : { kind: 'batch' as const, statements, transaction: transaction ?? false, db_id },
  );
export type QueryRequest = z.infer<typeof queryRequest>;

/** Operator command `set-quota`: a tenant's storage quota in bytes, or null for the default. */
export const setQuotaRequest = z.strictObject({
  action: z.literal('set-quota'),
  tenant_id: z.uuid('tenant_id must be a uuid'),
  bytes: z.number().int('bytes must be an integer').min(1, 'bytes must be positive').max(Number.MAX_SAFE_INTEGER).nullable(),
});
export type SetQuotaRequest = z.infer<typeof setQuotaRequest>;

/** A tenant named by the operator: its id or its email. */
const tenantRef = z.string().trim().min(1, 'tenant (id or email) is required').max(254);

/** Operator's `set-limits`: a tenant (id or email), a route, and a limit (`100/s burst 200`) or `default`. */
export const setLimitsRequest = z.strictObject({
  action: z.literal('set-limits'),
  tenant: tenantRef,
  route: z.enum(TENANT_ROUTES),
  limit: z
    .string()
    .trim()
    .max(64)
    .transform((spec, ctx) => {
      if (spec === 'default') return null;
      const limit = parseRateLimit(spec);
      if (!limit) ctx.addIssue({ code: 'custom', message: 'limit must look like `100/s burst 200` or `30/3600s burst 10`, or be `default`' });
      return limit ?? null;
    }),
});

/** Operator's `delete-tenant`, `suspend-tenant` and `resume-tenant`: a tenant by id or email. */
export const tenantLifecycleRequest = z.strictObject({
  action: z.enum(['delete-tenant', 'suspend-tenant', 'resume-tenant']),
  tenant: tenantRef,
});
export type TenantLifecycleRequest = z.infer<typeof tenantLifecycleRequest>;

/** /dashboard `delete_account`: the tenant's password again (the token alone may not erase the account). */
export const deleteAccountRequest = z.strictObject({
  action: z.literal('delete_account'),
  password: z.string({ error: 'password is required' }).min(1, 'password is required').max(1024),
});
