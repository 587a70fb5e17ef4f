import { z } from 'zod';
import { API_KEY_SCOPES } from '#core/api-key-ports';
import type { DatabaseStatus } from '#core/ports';
import { BATCH_STATES, JOB_STATES, type MigrationStage } from '#core/migration-ports';
import { DB_ID } from '#core/patterns';
import { RULES } from '#core/table-tokens';
import type { StatementType } from '#core/query-stats';
import type { getDatabaseMetadata, getDatabaseTables, getQueryStats, getUserInfo, listTenantDatabases } from '#core/dashboard';
import type { listChildren } from '#core/children';
import type { listMigrations } from '#core/migration-history';
import type { getMigrationStatus } from '#core/migration-status';
import type { SubmitResult } from '#core/migration-submit';
import type { PlanResult } from '#core/migration-plan';
import type { listTableBackups, restoreTableBackup } from '#core/table-backups';
import type { getRestoreStatus, requestRestore } from '#core/pitr';
import type { PlanChange } from '#core/plan-output';
import type { QueryResult } from '#core/query';
import type { runTenantBatch } from '#core/query-batch';
import type { createApiKey, listApiKeys, revokeApiKey } from '#core/api-keys';
import type { deleteOwnAccount } from '#core/offboarding';
import type { SignUpResult } from '#core/signup';
import type { issueToken } from '#core/tokens';

/**
 * What the API answers, one strict schema per answer: the success of every route and /dashboard
 * action (the error bodies per status are in error-answers.ts). They are the source of docs/openapi.json (openapi.ts)
 * and are checked both ways: `Answer<…>` below fails the type check when a core result and its
 * schema disagree on a field, and the integration tests validate every answer they get against
 * the document (strict: a field the schema does not name fails them; test/support/openapi.ts).
 */

export const text = (description: string) => z.string().describe(description);
const uuid = (description: string) => z.uuid().describe(description);
const dbId = z.string().regex(DB_ID).describe('A database id: 128 random bits, 32 lowercase hex characters');
export const count = z.number().int().min(0);

export const DATABASE_STATUSES = ['unverified', 'provisioning', 'ready', 'failed'] as const satisfies readonly DatabaseStatus[];
const STAGES = ['backup', 'update', 'validate', 'rollback', 'verify'] as const satisfies readonly MigrationStage[];
const PLAN_CHANGES = ['create', 'alter', 'drop', 'rename', 'none'] as const satisfies readonly PlanChange[];
const STATEMENT_TYPES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'OTHER'] as const satisfies readonly StatementType[];

// --- shared parts (each a component of the document) ---

export const problem = z.strictObject({ field: text('The field, dotted for nested ones; `(body)` for the body itself'), problem: z.string() });
export const statementVerdict = z.strictObject({
  index: z.number().int().min(1).describe('1-based position of the statement in `sql`'),
  table: z.string().nullable(),
  valid: z.boolean(),
  reason: z.string().optional(),
  kind: z.enum(['prohibited', 'invalid']).optional().describe('prohibited: the request is a 403; invalid: a 400'),
  rule: z.enum(RULES).optional().describe('Which rule refused the statement'),
});
export const storage = z.strictObject({
  used_bytes: count.describe("The tenant's data and indexes over all its databases, as last measured"),
  quota_bytes: count,
  measured_at: z.iso.datetime().nullable(),
});
export const resultColumn = z.strictObject({ name: z.string(), type: text('MySQL\'s type name, e.g. `BIGINT UNSIGNED`, `VARCHAR`; `UNKNOWN` for others') });
export const batchState = z
  .enum(BATCH_STATES)
  .describe('running until every job has ended; succeeded; failed (a job failed); rolled_back (atomic: a job failed and every table was restored, none flagged)');
export const jobCounts = z.partialRecord(z.enum(JOB_STATES), count).describe('Jobs per state; a state with none is absent');
export const latency = z.strictObject({
  count,
  errors: count,
  p50_ms: z.number().min(0).nullable(),
  p95_ms: z.number().min(0).nullable(),
});
export const logItem = z.strictObject({
  log_id: z.string(),
  create_timestamp: z.iso.datetime(),
  source: text('Who wrote it: provision, migration, query, …'),
  level: z.enum(['INFO', 'WARN', 'ERROR']),
  message: z.string(),
  db_id: z.string().optional(),
  job_id: z.string().optional(),
  stage: z.enum(STAGES).optional(),
  truncated: z.boolean().optional().describe('The message was cut to 256 KB'),
  statement_type: z.enum(STATEMENT_TYPES).optional(),
  duration_ms: z.number().min(0).optional(),
  rows: count.optional(),
  outcome: z.enum(['ok', 'error']).optional(),
  error_class: z.string().optional(),
});
export const jobStatus = z.strictObject({
  job_id: uuid('The job'),
  batch_id: uuid('Its batch'),
  db_id: dbId,
  table: z.string(),
  state: z.enum(JOB_STATES),
  status_reason: z.string().nullable(),
  attempts: count,
  flagged: z.boolean().describe('Failed for good: the admin was told'),
  applied_sql: z.string().nullable().describe('The DDL Skeema applied'),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  finished_at: z.iso.datetime().nullable(),
  stages: z.array(
    z.strictObject({
      stage: z.enum(STAGES),
      attempt: z.number().int().min(0),
      outcome: z.enum(['ok', 'failed']),
      detail: z.string().nullable(),
      started_at: z.iso.datetime(),
      finished_at: z.iso.datetime(),
    }),
  ),
  cascade: z
    .strictObject({ batch_id: z.uuid(), counts: jobCounts, finished_at: z.iso.datetime().nullable() })
    .optional()
    .describe("A parent job that cascaded: its children's batch"),
});

// --- successes ---

const accountAnswer = z.strictObject({
  tenant_id: uuid('The new tenant'),
  db_id: dbId,
  status: z.enum(['provisioning', 'unverified']).describe('unverified: the emailed code must come back through POST /verify first'),
});

export const healthAnswer = z.strictObject({ status: z.literal('ok') });
export const signupAnswer = accountAnswer;
export const verifyAnswer = accountAnswer;
export const tokenAnswer = z.strictObject({ token: text('A JWT (HS256): send it as `Authorization: Bearer <token>`'), expires_at: z.iso.datetime() });
export const queryAnswer = z.strictObject({
  message: text('"Query executed successfully"'),
  rowsAffected: count,
  columns: z.array(resultColumn).describe('A SELECT\'s columns in order (also with no row); [] for writes'),
  data: z.array(z.record(z.string(), z.unknown())).describe('A SELECT\'s rows as objects; [] for writes'),
  truncated: z.boolean().optional().describe('SELECT only: more rows matched than fit the row cap or byte budget'),
  insertId: z.string().optional().describe('Writes only: the AUTO_INCREMENT value MySQL generated'),
});
export const queryBatchAnswer = z.strictObject({ results: z.array(queryAnswer).describe('One result per statement, in order') });
export const migrateAnswer = z.strictObject({
  message: text('"Migration job submitted"'),
  batch_id: uuid('The batch: follow it with /dashboard get_migration_status'),
  jobs: z.array(z.strictObject({ job_id: z.uuid(), table: z.string() })),
});

export const migratePlanAnswer = z.strictObject({
  dry_run: z.literal(true),
  db_id: dbId,
  tables: z
    .array(
      z.strictObject({
        table: z.string(),
        change: z.enum(PLAN_CHANGES).describe('none: the table is already as desired; rename: a removed table whose definition another requested table takes (Skeema still drops and creates)'),
        ddl: z.array(z.string()).describe('The statements Skeema would run for this table, in order'),
        unsafe: z.boolean().describe('Skeema refuses this change without allow_unsafe (it can lose data)'),
        unsafe_reasons: z.array(z.string()).describe('Why, per clause that can lose data (DROP TABLE, DROP COLUMN, a changed column type, …)'),
        lint: z.array(z.strictObject({ rule: text("Skeema's lint rule (pk, dupe-index, charset, display-width, …; `lint` when unnamed)"), message: z.string() })),
      }),
    )
    .describe('One entry per requested table (statements, then drop_tables), in the request order'),
});

/** An API key as listed: never its secret, which only create_api_key's answer carries, once. */
const apiKey = z.strictObject({
  key_id: z.uuid(),
  name: z.string(),
  scope: z.enum(API_KEY_SCOPES),
  db_id: dbId.nullable().describe('The one database the key works on; null: the database it was created for, by default'),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime().nullable(),
  last_used_at: z.iso.datetime().nullable().describe('Recorded at most once a minute'),
  revoked_at: z.iso.datetime().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
});

/** A tenant's erasure record: ids, times, who asked, counts; never a name or an email. */
export const erasureAnswer = z.strictObject({
  tenant_id: z.uuid(),
  state: z.enum(['running', 'done']).describe('running: the worker is dropping the databases and deleting the rows and logs'),
  requested_by: z.enum(['operator', 'tenant']),
  requested_at: z.iso.datetime(),
  finished_at: z.iso.datetime().nullable(),
  db_ids: z.array(dbId),
  databases_dropped: count,
  api_keys_deleted: count,
  log_items_deleted: count,
  children_detached: count.describe("Other tenants' databases made from this (parent) tenant's: kept, no longer following it"),
});

/** /dashboard: the answer of each action, by action name. */
const tableBackup = z.strictObject({
  backup_id: uuid('Restore it with restore_table'),
  table: z.string(),
  definition: text('The CREATE TABLE it had when it was removed'),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime().describe('After this the backup is dropped (OCTODB_TABLE_BACKUP_HOURS)'),
});

/** restore_database and get_restore_status: one point-in-time restore. */
const databaseRestore = z.strictObject({
  restore_id: uuid('Poll it with get_restore_status'),
  db_id: dbId.describe('The database restored from'),
  target: z.enum(['new', 'in_place']),
  target_db_id: dbId.describe('The database written: a new one (listed by list_databases once succeeded) or db_id itself'),
  to_time: z.iso.datetime().describe('Everything committed up to the end of this second'),
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  reason: z.string().nullable().describe('failed: why'),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  finished_at: z.iso.datetime().nullable(),
});

export const dashboardAnswers = {
  restore_database: databaseRestore,
  get_restore_status: databaseRestore,
  list_table_backups: z.strictObject({ db_id: dbId, backups: z.array(tableBackup).describe('Restorable backups of removed tables, newest first (at most 100)') }),
  restore_table: z.strictObject({ backup_id: z.uuid(), table: z.string(), restored: z.literal(true) }),
  delete_account: erasureAnswer,
  create_api_key: apiKey.extend({ key: text('The key (`octo_…`), shown this once: send it as `Authorization: Bearer <key>`') }),
  list_api_keys: z.strictObject({ keys: z.array(apiKey), truncated: z.boolean() }),
  revoke_api_key: z.strictObject({ key_id: z.uuid(), status: z.literal('revoked') }),
  get_user_info: z.strictObject({
    tenant_id: z.uuid(),
    name: z.string(),
    email: z.string(),
    created_at: z.iso.datetime(),
    is_admin: z.boolean(),
    storage,
  }),
  list_databases: z.strictObject({
    databases: z.array(
      z.strictObject({
        db_id: dbId,
        status: z.enum(DATABASE_STATUSES),
        status_reason: z.string().nullable(),
        template: text('The template or parent db_id it started from'),
        host_id: z.string(),
        created_at: z.iso.datetime(),
      }),
    ),
  }),
  get_database_metadata: z.strictObject({
    db_id: dbId,
    status: z.enum(DATABASE_STATUSES),
    status_reason: z.string().nullable(),
    size_bytes: count.nullable().describe('null until ready'),
    table_count: count.nullable().describe('null until ready'),
    storage,
    parent: text('The template schema it follows'),
    customized_tables: z.array(z.string()),
    pending_parent_changes: z.array(
      z.strictObject({
        table: z.string(),
        parent_job_id: z.uuid(),
        job_id: z.uuid(),
        definition: text("The parent's CREATE TABLE, to adopt with /migrate"),
        skipped_at: z.iso.datetime(),
      }),
    ),
    created_at: z.iso.datetime(),
  }),
  get_database_tables: z.strictObject({
    db_id: dbId,
    status: z.enum(DATABASE_STATUSES),
    tables: z.array(z.strictObject({ name: z.string(), rows_estimate: count })),
    truncated: z.boolean(),
  }),
  get_log_table: z.strictObject({ items: z.array(logItem), last_evaluated_key: z.string().nullable().describe('null on the last page') }),
  get_query_logs: z.strictObject({ items: z.array(logItem), last_evaluated_key: z.string().nullable().describe('null on the last page') }),
  get_query_stats: z.strictObject({
    window: z.string(),
    since: z.iso.datetime(),
    until: z.iso.datetime(),
    total: latency,
    by_statement_type: z.partialRecord(z.enum(STATEMENT_TYPES), latency),
  }),
  get_migration_status: z.union([
    jobStatus,
    z.strictObject({
      batch_id: z.uuid(),
      kind: z.enum(['tenant', 'cascade']),
      db_id: dbId,
      atomic: z.boolean().describe('Submitted with "atomic": true'),
      state: batchState,
      parent_job_id: z.uuid().nullable(),
      created_at: z.iso.datetime(),
      finished_at: z.iso.datetime().nullable(),
      counts: jobCounts.describe('Jobs per state over the whole batch (whatever `state` filters); a state with none is absent'),
      total: count.describe('Jobs in the whole batch'),
      jobs: z.array(jobStatus).describe('One page of jobs (of `state`, when asked), in submission order'),
      jobs_truncated: z.boolean().describe('More jobs follow: ask again with last_evaluated_key'),
      last_evaluated_key: z.string().optional().describe('Where this page ended: send it back for the next page; absent on the last page'),
    }),
  ]),
  list_migrations: z.strictObject({
    migrations: z.array(
      z.strictObject({
        batch_id: z.uuid(),
        db_id: dbId,
        kind: z.enum(['tenant', 'cascade']).describe("tenant: a /migrate request; cascade: a parent change fanned out to the parent's children"),
        atomic: z.boolean().describe('Submitted with "atomic": true'),
        created_at: z.iso.datetime(),
        finished_at: z.iso.datetime().nullable(),
        state: batchState,
        counts: jobCounts,
        tables: z.array(z.string()).describe('Its tables (a cascade: the one parent table), in submission order'),
      }),
    ).describe('Newest first'),
    last_evaluated_key: z
      .string()
      .optional()
      .describe('Where this page ended: send it back for the next page; absent on the last page. A page with filters may hold fewer than `limit` (even none) and still have one'),
  }),
  list_children: z.strictObject({
    children: z
      .array(
        z.strictObject({
          db_id: dbId,
          parent_db_id: dbId.describe('The admin database it was made from (its template)'),
          status: z.enum(DATABASE_STATUSES),
          created_at: z.iso.datetime(),
          customized_tables: z.array(z.string()).describe('Tables its tenant changed itself: parent cascades skip them'),
        }),
      )
      .describe("The children of the admin's databases, newest first; no name or email of their tenants"),
    last_evaluated_key: z.string().optional().describe('Where this page ended: send it back for the next page; absent on the last page'),
  }),
} satisfies Record<string, z.ZodType>;

// --- the core's results and these schemas agree (a compile-time check: `tsc` fails on drift) ---

/** True when A and B have the same keys and each is assignable to the other (so nested fields agree too). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? ([keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false) : false) : false;
type Result<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
type Agrees<T extends true> = T;
type Out<S extends z.ZodType> = z.output<S>;
export type AnswersAgree = [
  Agrees<Same<SignUpResult, Out<typeof signupAnswer>>>,
  Agrees<Same<Result<typeof issueToken>, Out<typeof tokenAnswer>>>,
  Agrees<Same<QueryResult, Out<typeof queryAnswer>>>,
  Agrees<Same<Result<typeof runTenantBatch>, Out<typeof queryBatchAnswer>>>,
  Agrees<Same<Result<typeof createApiKey>, Out<(typeof dashboardAnswers)['create_api_key']>>>,
  Agrees<Same<Result<typeof listApiKeys>, Out<(typeof dashboardAnswers)['list_api_keys']>>>,
  Agrees<Same<Result<typeof revokeApiKey>, Out<(typeof dashboardAnswers)['revoke_api_key']>>>,
  Agrees<Same<Result<typeof deleteOwnAccount>, Out<(typeof dashboardAnswers)['delete_account']>>>,
  Agrees<Same<SubmitResult, Out<typeof migrateAnswer>>>,
  Agrees<Same<PlanResult, Out<typeof migratePlanAnswer>>>,
  Agrees<Same<Result<typeof listTableBackups>, Out<(typeof dashboardAnswers)['list_table_backups']>>>,
  Agrees<Same<Result<typeof restoreTableBackup>, Out<(typeof dashboardAnswers)['restore_table']>>>,
  Agrees<Same<Result<typeof requestRestore>, Out<(typeof dashboardAnswers)['restore_database']>>>,
  Agrees<Same<Result<typeof getRestoreStatus>, Out<(typeof dashboardAnswers)['get_restore_status']>>>,
  Agrees<Same<Result<typeof getUserInfo>, Out<(typeof dashboardAnswers)['get_user_info']>>>,
  Agrees<Same<Result<typeof listTenantDatabases>, Out<(typeof dashboardAnswers)['list_databases']>>>,
  Agrees<Same<Result<typeof getDatabaseMetadata>, Out<(typeof dashboardAnswers)['get_database_metadata']>>>,
  Agrees<Same<Result<typeof getDatabaseTables>, Out<(typeof dashboardAnswers)['get_database_tables']>>>,
  Agrees<Same<Result<typeof getQueryStats>, Out<(typeof dashboardAnswers)['get_query_stats']>>>,
  Agrees<Same<Result<typeof getMigrationStatus>, Out<(typeof dashboardAnswers)['get_migration_status']>>>,
  Agrees<Same<Result<typeof listMigrations>, Out<(typeof dashboardAnswers)['list_migrations']>>>,
  Agrees<Same<Result<typeof listChildren>, Out<(typeof dashboardAnswers)['list_children']>>>,
];
