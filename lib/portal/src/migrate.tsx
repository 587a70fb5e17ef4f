import { useState } from 'preact/hooks';
import { type Api, describe } from './api.ts';
import { usePoll } from './poll.ts';
import type { Batch, Counts, Job, MigrationList, Plan, Stage } from './types.ts';
import { Badge, ErrorLine, Panel, Progress } from './ui.tsx';

const BATCH_POLL_MS = 1000;
const HISTORY_POLL_MS = 2000;
/** Stages in order. A tenant job goes through backup, update, validate (shown pending until then); a
 * cascade's child job records its own (update, validate, verify) and a failed job `rollback`: shown when there. */
const STAGES: Stage[] = ['backup', 'update', 'validate', 'verify', 'rollback'];
const TENANT_STAGES: Stage[] = ['backup', 'update', 'validate'];
const EXAMPLE = 'CREATE TABLE items (\n  id int unsigned NOT NULL AUTO_INCREMENT,\n  name varchar(100) NOT NULL,\n  PRIMARY KEY (id)\n);';

/**
 * Submit a migration: the dry-run plan first (the DDL per table, what is unsafe and why, lint),
 * then Apply, then its batch watched live.
 */
export function Migrate({ api, dbId, isAdmin }: { api: Api; dbId: string; isAdmin: boolean }) {
  const [sql, setSql] = useState(EXAMPLE);
  const [allowUnsafe, setAllowUnsafe] = useState(false);
  const [review, setReview] = useState<Plan>();
  const [batchId, setBatchId] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const body = { sql, db_id: dbId, allow_unsafe: allowUnsafe };
  const step = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  const plan = () =>
    step(async () => {
      setReview(undefined);
      setReview(await api.call<Plan>('/migrate', { ...body, dry_run: true }));
    });
  const apply = () =>
    step(async () => {
      const { batch_id } = await api.call<{ batch_id: string }>('/migrate', body);
      setReview(undefined);
      setBatchId(batch_id);
    });
  return (
    <>
      <Panel title="Migrate">
        <p>Each statement is a CREATE TABLE: the table as it should be. New tables are created, existing ones altered to match.</p>
        <label>
          Desired tables
          <textarea name="sql" rows={7} spellcheck={false} value={sql} onInput={(e) => (setSql(e.currentTarget.value), setReview(undefined))} />
        </label>
        <label class="inline">
          <input type="checkbox" checked={allowUnsafe} onChange={(e) => (setAllowUnsafe(e.currentTarget.checked), setReview(undefined))} /> Allow unsafe changes (drops, lossy
          column changes)
        </label>
        <button type="button" disabled={busy} onClick={() => void plan()}>
          Review plan
        </button>
        <ErrorLine error={error} />
        {review && (
          <div class="plan" aria-label="Plan">
            <PlanView plan={review} />
            <button type="button" disabled={busy || (review.tables.some((t) => t.unsafe) && !allowUnsafe)} onClick={() => void apply()}>
              Apply
            </button>
          </div>
        )}
      </Panel>
      {batchId && <BatchView api={api} batchId={batchId} title="Migration" onOpen={setBatchId} />}
      <History api={api} dbId={dbId} isAdmin={isAdmin} latest={batchId} onOpen={setBatchId} />
    </>
  );
}

function PlanView({ plan }: { plan: Plan }) {
  return (
    <table aria-label="Planned changes">
      <thead>
        <tr>
          <th>Table</th>
          <th>Change</th>
          <th>DDL</th>
          <th>Safety and lint</th>
        </tr>
      </thead>
      <tbody>
        {plan.tables.map((t) => (
          <tr key={t.table}>
            <td>{t.table}</td>
            <td>
              <Badge value={t.change} />
            </td>
            <td>
              <pre>{t.ddl.join('\n') || '-'}</pre>
            </td>
            <td>
              {t.unsafe && <Badge value="unsafe" />}
              <ul>
                {t.unsafe_reasons.map((r) => (
                  <li key={r}>{r}</li>
                ))}
                {t.lint.map((l) => (
                  <li key={l.rule + l.message}>
                    {l.rule}: {l.message}
                  </li>
                ))}
              </ul>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Done moving: the batch is finished and so is every cascade its jobs started (an admin watches those too). */
const settled = (b: Batch) => b.finished_at !== null && b.jobs.every((j) => !j.cascade || j.cascade.finished_at !== null);

const doneOf = (counts: Counts) => (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.skipped ?? 0);

/** A batch watched live: its jobs and each one's stages, polled until the batch is finished. */
export function BatchView({ api, batchId, title, onOpen }: { api: Api; batchId: string; title: string; onOpen(batchId: string): void }) {
  const batch = usePoll(() => api.dashboard<Batch>('get_migration_status', { batch_id: batchId }), BATCH_POLL_MS, settled, [batchId]);
  const b = batch.data;
  return (
    <Panel title={title}>
      <ErrorLine error={batch.error} />
      {b && (
        <>
          <p>
            Batch <code>{batchId}</code> ({b.kind}): <Badge value={b.finished_at ? 'finished' : 'running'} />
          </p>
          <Progress label={`${title} progress`} done={doneOf(b.counts)} total={b.total} />
          <table aria-label="Jobs">
            <thead>
              <tr>
                <th>{b.kind === 'cascade' ? 'Child database' : 'Table'}</th>
                <th>State</th>
                <th>Stages</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {b.jobs.map((job) => (
                <JobRow key={job.job_id} job={job} kind={b.kind} onOpen={onOpen} />
              ))}
            </tbody>
          </table>
          {b.jobs_truncated && <p>Only the first jobs are listed.</p>}
        </>
      )}
    </Panel>
  );
}

function JobRow({ job, kind, onOpen }: { job: Job; kind: Batch['kind']; onOpen(batchId: string): void }) {
  const last = new Map(job.stages.map((s) => [s.stage, s.outcome]));
  return (
    <tr data-job-state={job.state}>
      <td>{kind === 'cascade' ? <code>{job.db_id}</code> : job.table}</td>
      <td>
        <Badge value={job.state} />
      </td>
      <td>
        <ol class="stages">
          {STAGES.filter((s) => last.has(s) || (kind === 'tenant' && TENANT_STAGES.includes(s))).map((s) => (
            <li key={s} class={`stage-${last.get(s) ?? 'pending'}`}>
              {s}
            </li>
          ))}
        </ol>
        {job.cascade && (
          <button type="button" class="link" onClick={() => onOpen(job.cascade!.batch_id)}>
            cascade to children: {doneOf(job.cascade.counts)} done
          </button>
        )}
      </td>
      <td>{job.status_reason}</td>
    </tr>
  );
}

/**
 * Past batches (the `list_migrations` action); an admin's include its cascades, opened to watch
 * each child. Read again when a batch is submitted (`latest`), and polled while one still runs.
 */
function History({ api, dbId, isAdmin, latest, onOpen }: { api: Api; dbId: string; isAdmin: boolean; latest?: string; onOpen(batchId: string): void }) {
  const list = usePoll(
    () => api.dashboard<MigrationList>('list_migrations', { db_id: dbId, limit: 20 }),
    HISTORY_POLL_MS,
    (page) => !page.migrations.some((m) => m.state === 'running'),
    [dbId, latest],
  );
  if (list.data === undefined && !list.error) return null;
  return (
    <Panel
      title={isAdmin ? 'Migrations and cascades' : 'Migrations'}
      actions={
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      }
    >
      <ErrorLine error={list.error} />
      <table aria-label="Migration history">
        <tbody>
          {list.data?.migrations.map((m) => (
            <tr key={m.batch_id}>
              <td>{new Date(m.created_at).toLocaleString()}</td>
              <td>{m.kind}</td>
              <td>{m.tables.join(', ')}</td>
              <td>
                <Badge value={m.state} />
              </td>
              <td>
                <button type="button" class="link" onClick={() => onOpen(m.batch_id)}>
                  Watch
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}
