import { useState } from 'preact/hooks';
import { type Api, describe } from './api.ts';
import type { QueryResult } from './types.ts';
import { ErrorLine, Panel, Rows } from './ui.tsx';

export function QueryRunner({ api, dbId }: { api: Api; dbId: string }) {
  const [sql, setSql] = useState('SELECT 1 AS one');
  const [result, setResult] = useState<QueryResult>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.call<QueryResult>('/query', { query: sql, db_id: dbId }));
    } catch (err) {
      setResult(undefined);
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Panel title="Query">
      <form onSubmit={run}>
        <label>
          SQL (one statement)
          <textarea name="query" rows={4} spellcheck={false} value={sql} onInput={(e) => setSql(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Run
        </button>
      </form>
      <ErrorLine error={error} />
      {result && (
        <div class="result">
          <p>
            {result.message}: {result.data.length} row(s) returned, {result.rowsAffected} affected
            {result.truncated && ' (cut at the row limit)'}
          </p>
          {result.columns.length > 0 && <Rows label="Query result" columns={result.columns} rows={result.data} />}
        </div>
      )}
    </Panel>
  );
}
