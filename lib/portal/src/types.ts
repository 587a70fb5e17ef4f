/** The API answers the portal reads (docs/api.md; lambdas/shared/responses.ts is their source). */

export type DatabaseStatus = 'unverified' | 'provisioning' | 'ready' | 'failed';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';
export type Stage = 'backup' | 'update' | 'validate' | 'rollback' | 'verify';

export interface UserInfo {
  tenant_id: string;
  name: string;
  email: string;
  is_admin: boolean;
}

export interface Database {
  db_id: string;
  status: DatabaseStatus;
  status_reason: string | null;
  template: string;
  created_at: string;
}

export interface Column {
  name: string;
  type: string;
}

export interface QueryResult {
  message: string;
  rowsAffected: number;
  columns: Column[];
  data: Array<Record<string, unknown>>;
  truncated?: boolean;
}

export type Counts = Partial<Record<JobState, number>>;

export interface Job {
  job_id: string;
  db_id: string;
  table: string;
  state: JobState;
  status_reason: string | null;
  attempts: number;
  applied_sql: string | null;
  stages: Array<{ stage: Stage; attempt: number; outcome: 'ok' | 'failed'; detail: string | null }>;
  cascade?: { batch_id: string; counts: Counts; finished_at: string | null };
}

export interface Batch {
  batch_id: string;
  kind: 'tenant' | 'cascade';
  db_id: string;
  finished_at: string | null;
  counts: Counts;
  total: number;
  jobs: Job[];
  jobs_truncated: boolean;
}

/** POST /migrate with `dry_run: true`: the plan (lambdas/shared/responses.ts migratePlanAnswer). */
export interface Plan {
  dry_run: true;
  db_id: string;
  tables: Array<{
    table: string;
    change: 'create' | 'alter' | 'drop' | 'rename' | 'none';
    ddl: string[];
    unsafe: boolean;
    unsafe_reasons: string[];
    lint: Array<{ rule: string; message: string }>;
  }>;
}

/** `/dashboard` `list_migrations` (lambdas/shared/responses.ts dashboardAnswers.list_migrations). */
export interface MigrationList {
  migrations: Array<{ batch_id: string; db_id: string; kind: 'tenant' | 'cascade'; created_at: string; state: string; counts: Counts; tables: string[] }>;
  last_evaluated_key?: string | null;
}

export interface LogItem {
  log_id: string;
  create_timestamp: string;
  source: string;
  level: 'INFO' | 'WARN' | 'ERROR';
  message: string;
  job_id?: string;
  stage?: Stage;
}

export interface Latency {
  count: number;
  errors: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

export interface QueryStats {
  window: string;
  since: string;
  until: string;
  total: Latency;
  by_statement_type: Record<string, Latency>;
}

/** `/dashboard` `list_children`, an admin's (lambdas/shared/responses.ts dashboardAnswers.list_children). */
export interface ChildList {
  children: Array<{ db_id: string; parent_db_id: string; status: DatabaseStatus; created_at: string; customized_tables: string[] }>;
  last_evaluated_key?: string;
}
