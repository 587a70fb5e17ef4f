import { runOnHost } from './host-scripts.ts';
import { sendBestEffort } from './logs.ts';
import type { MigrationDeps } from './migration-deps.ts';
import type { HostRecord, HostRunResult, JobState, LogRecord, MigrationJobRecord, MigrationStage } from './ports.ts';
import type { ScriptRun } from './skeema.ts';
import { jobOutputLines } from './skeema-output.ts';

export function runScript(deps: Pick<MigrationDeps, 'hostRunner' | 'settings'>, host: HostRecord, script: string): Promise<HostRunResult> {
  return runOnHost(deps.hostRunner, host, script, deps.settings.scriptTimeoutSeconds);
}

/** Runs one of a job's host scripts for a stage; its output goes to the job's log records. */
export function scriptRunner(deps: MigrationDeps, host: HostRecord, log: JobLog): ScriptRun {
  return async (stage, script) => {
    const result = await runScript(deps, host, script);
    await log.output(stage, result);
    return result;
  };
}

export type JobLog = ReturnType<typeof jobLog>;
/**
 * A tenant job's log records (best effort: the outcome is in MetaDB either way), under the
 * batch's tenant, who owns the database: the DDL run, definitions and the server's answer, without
 * the scripts' markers, workspace paths, host endpoints or account names (jobOutputLines).
 */
export function jobLog(job: MigrationJobRecord, tenantId: string, deps: Pick<MigrationDeps, 'logs'>) {
  const send = async (records: Array<Pick<LogRecord, 'level' | 'message'> & { stage?: MigrationStage }>) => {
    const base = { tenant_id: tenantId, db_id: job.dbId, job_id: job.jobId, source: 'migration', create_timestamp: new Date().toISOString() };
    await sendBestEffort(deps.logs, records.map((r) => ({ ...base, ...r })));
  };
  return {
    output: (stage: MigrationStage, result: HostRunResult) => send(jobOutputLines(result).map((line) => ({ stage, ...line }))),
    outcome: (state: JobState, reason: string | null) =>
      send([{ level: state === 'failed' ? 'ERROR' : 'INFO', message: `migration of ${job.table}: ${state}${reason ? ` (${reason})` : ''}` }]),
  };
}

/** Writes one audit row of a job's stage, timed from `startedAt` to now. */
export function auditor(jobId: string, deps: Pick<MigrationDeps, 'audit'>) {
  return (stage: MigrationStage, attempt: number, startedAt: Date, outcome: 'ok' | 'failed', detail: string | null) =>
    deps.audit.addAudit([{ jobId, attempt, stage, outcome, detail, startedAt, finishedAt: new Date() }]);
}
