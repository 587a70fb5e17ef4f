import type { ComponentChildren } from 'preact';
import type { Column } from './types.ts';

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Badge({ value }: { value: string }) {
  return (
    <span class={`badge badge-${value}`} data-state={value}>
      {value}
    </span>
  );
}

export function Panel({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel" aria-label={title}>
      <header>
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** Cells as text: the API sends values as JSON (big integers and dates as strings); objects shown as JSON. */
const cell = (value: unknown) => (value === null || value === undefined ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value));

export function Rows({ columns, rows, label }: { columns: Column[]; rows: Array<Record<string, unknown>>; label: string }) {
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.name} title={c.type}>
              {c.name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i}>
            {columns.map((c) => (
              <td key={c.name}>{cell(row[c.name])}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A done/total bar, e.g. a cascade's children. */
export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={total} aria-valuenow={done}>
      <div style={{ width: `${total ? Math.round((done / total) * 100) : 0}%` }} />
      <span>
        {done} / {total}
      </span>
    </div>
  );
}
