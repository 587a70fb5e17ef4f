import { useState } from 'preact/hooks';
import { type Api, describe } from './api.ts';
import { Children } from './children.tsx';
import { Logs, Stats } from './insight.tsx';
import { Migrate } from './migrate.tsx';
import { usePoll } from './poll.ts';
import { QueryRunner } from './query.tsx';
import type { Column, Database, QueryResult, UserInfo } from './types.ts';
import { Badge, ErrorLine, Panel } from './ui.tsx';

const TABS = ['Tables', 'Query', 'Migrate', 'Logs', 'Statistics'] as const;
type Tab = (typeof TABS)[number];

/** How often a provisioning database is asked about: "live" without flooding the rate limit. */
const PROVISIONING_POLL_MS = 1000;

export function Console({ api, email, onSignOut }: { api: Api; email: string; onSignOut(): void }) {
  const user = usePoll(() => api.dashboard<UserInfo>('get_user_info'), 0, () => true, []);
  // Polled while any database is provisioning; quiet once every one is ready or failed.
  const dbs = usePoll(
    () => api.dashboard<{ databases: Database[] }>('list_databases'),
    PROVISIONING_POLL_MS,
    (d) => d.databases.every((db) => db.status !== 'provisioning' && db.status !== 'unverified'),
    [],
  );
  const [chosen, setChosen] = useState<string>();
  const [tab, setTab] = useState<Tab>('Tables');
  const databases = dbs.data?.databases ?? [];
  const current = databases.find((db) => db.db_id === chosen) ?? databases[0];
  return (
    <div class="console">
      <header class="top">
        <h1>OctoDB</h1>
        <span class="who">
          {user.data?.name ?? email} {user.data?.is_admin && <Badge value="admin" />}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <ErrorLine error={user.error ?? dbs.error} />
      <Panel title="Databases">
        <table aria-label="Databases">
          <thead>
            <tr>
              <th>Database</th>
              <th>Status</th>
              <th>Template</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {databases.map((db) => (
              <tr key={db.db_id} class={db === current ? 'chosen' : ''} onClick={() => setChosen(db.db_id)}>
                <td>
                  <code>{db.db_id}</code>
                </td>
                <td>
                  <Badge value={db.status} /> {db.status_reason}
                </td>
                <td>{db.template}</td>
                <td>{new Date(db.created_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
      {user.data?.is_admin && <Children api={api} />}
      {current && (
        <>
          <nav role="tablist">
            {TABS.map((t) => (
              <button type="button" role="tab" key={t} aria-selected={t === tab} onClick={() => setTab(t)}>
                {t}
              </button>
            ))}
          </nav>
          {current.status !== 'ready' ? (
            <p class="waiting">
              Database <Badge value={current.status} />: {current.status === 'failed' ? current.status_reason : 'tables, queries and migrations open once it is ready.'}
            </p>
          ) : (
            <>
              {tab === 'Tables' && <Tables api={api} dbId={current.db_id} />}
              {tab === 'Query' && <QueryRunner api={api} dbId={current.db_id} />}
              {tab === 'Migrate' && <Migrate api={api} dbId={current.db_id} isAdmin={user.data?.is_admin ?? false} />}
              {tab === 'Logs' && <Logs api={api} />}
              {tab === 'Statistics' && <Stats api={api} />}
            </>
          )}
        </>
      )}
    </div>
  );
}

/** A table name as a MySQL identifier: backquoted, its own backquotes doubled. */
const quoteName = (name: string) => `\`${name.replaceAll('`', '``')}\``;

function Tables({ api, dbId }: { api: Api; dbId: string }) {
  const tables = usePoll(() => api.dashboard<{ tables: Array<{ name: string; rows_estimate: number }>; truncated: boolean }>('get_database_tables', { db_id: dbId }), 0, () => true, [dbId]);
  const [open, setOpen] = useState<{ table: string; columns?: Column[]; error?: string }>();
  // Columns through /query's own column metadata: a SELECT that reads no row costs one round trip.
  const show = async (table: string) => {
    setOpen({ table });
    try {
      const result = await api.call<QueryResult>('/query', { query: `SELECT * FROM ${quoteName(table)} LIMIT 0`, db_id: dbId });
      setOpen({ table, columns: result.columns });
    } catch (e) {
      setOpen({ table, error: describe(e) });
    }
  };
  return (
    <Panel
      title="Tables"
      actions={
        <button type="button" onClick={tables.reload}>
          Refresh
        </button>
      }
    >
      <ErrorLine error={tables.error} />
      <ul class="tables">
        {tables.data?.tables.map((t) => (
          <li key={t.name}>
            <button type="button" class="link" onClick={() => void show(t.name)}>
              {t.name}
            </button>{' '}
            <small>~{t.rows_estimate} rows</small>
          </li>
        ))}
      </ul>
      {tables.data?.tables.length === 0 && <p>No tables yet: create one under Migrate.</p>}
      {open && (
        <div class="columns">
          <h3>Columns of {open.table}</h3>
          <ErrorLine error={open.error} />
          <table aria-label={`Columns of ${open.table}`}>
            <tbody>
              {open.columns?.map((c) => (
                <tr key={c.name}>
                  <td>{c.name}</td>
                  <td>
                    <code>{c.type}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
