import { useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { usePoll } from './poll.ts';
import type { ChildList } from './types.ts';
import { Badge, ErrorLine, Panel } from './ui.tsx';

const PAGE = 20;

/**
 * An admin's child databases (the `list_children` action): those made from its databases, newest
 * first, with the tables each made its own (its cascades skip them). Read on Refresh, not polled:
 * children appear as other tenants sign up, no faster than a person looks. Paged forward with the
 * API's sealed key; Refresh goes back to the first page.
 */
export function Children({ api }: { api: Api }) {
  const [pages, setPages] = useState<string[]>([]);
  const key = pages.at(-1);
  const list = usePoll(() => api.dashboard<ChildList>('list_children', { limit: PAGE, ...(key && { last_evaluated_key: key }) }), 0, () => true, [key]);
  const next = list.data?.last_evaluated_key;
  return (
    <Panel
      title="Children"
      actions={
        <>
          {next && (
            <button type="button" onClick={() => setPages([...pages, next])}>
              Next page
            </button>
          )}
          <button type="button" onClick={() => (pages.length ? setPages([]) : list.reload())}>
            Refresh
          </button>
        </>
      }
    >
      <ErrorLine error={list.error} />
      <table aria-label="Children">
        <thead>
          <tr>
            <th>Database</th>
            <th>Parent</th>
            <th>Status</th>
            <th>Customized tables</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.children.map((c) => (
            <tr key={c.db_id}>
              <td>
                <code>{c.db_id}</code>
              </td>
              <td>
                <code>{c.parent_db_id}</code>
              </td>
              <td>
                <Badge value={c.status} />
              </td>
              <td>{c.customized_tables.join(', ') || 'none'}</td>
              <td>{new Date(c.created_at).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data?.children.length === 0 && <p>No children yet: a tenant signs up with one of your db_ids as its template.</p>}
    </Panel>
  );
}
