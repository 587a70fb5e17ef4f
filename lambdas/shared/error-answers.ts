import { z } from 'zod';
import { API_KEY_SCOPES } from '#core/api-key-ports';
import { count, DATABASE_STATUSES, problem, queryAnswer, statementVerdict, text } from './responses.ts';

/**
 * The API's error bodies, one strict schema each (the successes are in responses.ts): what every
 * route answers for a status and what one route adds. openapi.ts says which route answers which.
 */

/** A function's error: `{error}` and what the error adds (core/errors.ts toJSON). */
const failure = <S extends z.ZodRawShape>(shape: S = {} as S) => z.strictObject({ error: text('What went wrong, for a person'), ...shape });
const code = (description: string) => z.string().describe(description);
const retryAfter = z.number().int().min(1).describe('Also sent as the Retry-After header');

/** API Gateway's own answers (the local gateway gives the same): an unknown route, the authorizer's refusal, a failed function. */
export const gatewayMessage = z.strictObject({ message: z.string().nullable() });

const badRequest = failure({ problems: z.array(problem).optional().describe('Each bad or unknown field') });
const verdicts = z.array(statementVerdict).describe('A verdict per statement');
const quota = { used_bytes: count.optional(), quota_bytes: count.optional() };
/** What a failed /query batch adds to its statement's error. */
const batchFailure = {
  statement: count.optional().describe("A batch's failed statement (0-based index into `statements`)"),
  rolled_back: z.literal(true).optional().describe('transaction: true — nothing the batch did stays'),
  results: z.array(queryAnswer).optional().describe('transaction: false — the statements before it, which stay done'),
};
const keyRefusal = {
  code: z.enum(['KEY_SCOPE', 'TOKEN_ONLY']).describe("KEY_SCOPE: outside the API key's scope; TOKEN_ONLY: only the tenant's token may"),
  scope: z.enum(API_KEY_SCOPES).optional(),
};
/** Every guarded route's (and /token's) 403 for a suspended tenant, or one being erased. */
const SUSPENDED = 'TENANT_SUSPENDED';
const unavailable = failure({
  code: code('BUSY, NO_CAPACITY, VALIDATOR_BUSY, DEADLINE, UNAVAILABLE, METADB_UNAVAILABLE, REDIS_UNAVAILABLE, AUTH_UNAVAILABLE (LF0 failed) or MySQL\'s (ER_…)').optional(),
  retry_after_seconds: retryAfter.optional(),
});

/**
 * The error bodies, by component name: what every route answers for a status (`BadRequest`, …)
 * and what one route adds (`QueryBadRequest`, …). openapi.ts says which route answers which.
 */
export const errorAnswers = {
  GatewayMessage: gatewayMessage,
  InternalError: failure({ request_id: text('Find the request in the logs by it') }),
  TooLarge: failure({ limit_bytes: count }),
  RateLimited: failure({ code: z.literal('RATE_LIMITED'), retry_after_seconds: retryAfter }),
  BadRequest: badRequest,
  QueryBadRequest: badRequest.extend({
    code: code("MySQL's error (ER_…), PARAMS, UNSAFE_COLUMN_NAME, RESULT_TOO_LARGE or QUERY_TOO_BIG").optional(),
    limit_rows: count.optional().describe('QUERY_TOO_BIG: the bound on the rows or row combinations the server may estimate'),
    ...batchFailure,
  }),
  QueryTimeout: failure({ code: z.enum(['STATEMENT_TIMEOUT', 'BATCH_TIMEOUT']), limit_ms: count, ...batchFailure }),
  DashboardBadRequest: badRequest.extend({
    valid_actions: z.array(z.string()).optional().describe('The actions there are'),
    code: z
      .enum(['TIME_IN_FUTURE', 'BEFORE_OLDEST_BACKUP', 'TIME_DURING_RESTORE'])
      .optional()
      .describe('restore_database: to_time in the future, before the oldest base backup (`oldest_restorable_at`), or while the database was being restored in place'),
    oldest_restorable_at: z.iso.datetime().nullable().optional().describe('BEFORE_OLDEST_BACKUP: the earliest time it can be restored to (null: no base backup yet)'),
  }),
  MigrateBadRequest: badRequest.extend({
    statements: verdicts.optional(),
    code: z.enum(['UNSAFE_CHANGE', 'DUPLICATE_TABLE', 'PLAN_REFUSED']).optional().describe('UNSAFE_CHANGE: drop_tables without allow_unsafe; PLAN_REFUSED: the server refused a definition in the dry run'),
    tables: z.array(z.string()).optional().describe('UNSAFE_CHANGE: the tables it would remove'),
  }),
  Unauthorized: failure(),
  VerifyUnauthorized: failure({ code: z.enum(['INVALID_CODE', 'CODE_EXPIRED', 'TOO_MANY_ATTEMPTS']) }),
  TokenForbidden: failure({ code: z.enum(['EMAIL_NOT_VERIFIED', SUSPENDED]) }),
  QueryForbidden: failure({ code: code('PROHIBITED, PARSE, QUOTA_EXCEEDED, KEY_SCOPE, TENANT_SUSPENDED or MySQL\'s (ER_…)'), scope: keyRefusal.scope, ...quota, ...batchFailure }),
  MigrateForbidden: failure({ statements: verdicts.optional(), code: z.enum(['QUOTA_EXCEEDED', 'KEY_SCOPE', SUSPENDED]).optional(), scope: keyRefusal.scope, ...quota }),
  DashboardForbidden: failure({
    ...keyRefusal,
    code: z
      .enum([...keyRefusal.code.options, SUSPENDED, 'WRONG_PASSWORD', 'ADMIN_ONLY', 'QUOTA_EXCEEDED'])
      .describe(`${keyRefusal.code.description}; ${SUSPENDED}: the account is suspended; WRONG_PASSWORD: delete_account's password; ADMIN_ONLY: list_children, for an admin tenant only; QUOTA_EXCEEDED: restore_database into a new database over the storage quota`),
    ...quota,
  }),
  NotFound: failure({ code: z.enum(['DATABASE_NOT_FOUND', 'API_KEY_NOT_FOUND', 'BACKUP_NOT_FOUND', 'RESTORE_NOT_FOUND']).optional() }),
  Conflict: failure(),
  DashboardConflict: failure({
    code: z
      .enum(['API_KEY_LIMIT', 'BACKUP_GONE', 'TABLE_EXISTS', 'RESTORE_RUNNING', 'DATABASE_NOT_READY'])
      .describe('restore_table: BACKUP_GONE (restored or expired), TABLE_EXISTS (the name is taken); restore_database: RESTORE_RUNNING (a restore for the same tenant is queued or running), DATABASE_NOT_READY'),
    limit: count.optional().describe('API_KEY_LIMIT: the limit'),
  }),
  QueryConflict: failure({ status: z.enum(DATABASE_STATUSES).describe("The database's status"), ...batchFailure }),
  Unavailable: unavailable,
  QueryUnavailable: unavailable.extend(batchFailure),
  MigrateUnavailable: unavailable.extend({
    batch_id: z.uuid().optional().describe('Partly started: the batch'),
    started: z.array(z.string()).optional().describe('Tables whose jobs run'),
    not_started: z.array(z.string()).optional().describe('Tables to submit again'),
  }),
} satisfies Record<string, z.ZodType>;
export type ErrorAnswer = keyof typeof errorAnswers;
