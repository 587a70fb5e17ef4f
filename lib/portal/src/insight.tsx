import { useState } from 'preact/hooks';
import { type Api, describe } from './api.ts';
import { usePoll } from './poll.ts';
import type { Latency, LogItem, QueryStats } from './types.ts';
import { Badge, ErrorLine, Panel } from './ui.tsx';

type LogPage = { items: LogItem[]; last_evaluated_key: string | null };

/** The tenant's logs (provisioning, migrations), newest first, a page at a time. */
export function Logs({ api }: { api: Api }) {
  const first = usePoll(() => api.dashboard<LogPage>('get_log_table', { limit: 25 }), 0, () => true, []);
  const [older, setOlder] = useState<LogPage[]>([]);
  const [error, setError] = useState<string>();
  const pages = first.data ? [first.data, ...older] : [];
  const next = pages.at(-1)?.last_evaluated_key;
  const more = async () => {
    try {
      const page = await api.dashboard<LogPage>('get_log_table', { limit: 25, last_evaluated_key: next });
      setOlder([...older, page]);
    } catch (e) {
      setError(describe(e));
    }
  };
  return (
    <Panel
      title="Logs"
      actions={
        <button type="button" onClick={() => (setOlder([]), first.reload())}>
          Refresh
        </button>
      }
    >
      <ErrorLine error={first.error ?? error} />
      <table aria-label="Log records" class="logs">
        <tbody>
          {pages.flatMap((p) => p.items).map((item) => (
            <tr key={item.log_id}>
              <td>{new Date(item.create_timestamp).toLocaleTimeString()}</td>
              <td>
                <Badge value={item.level} />
              </td>
              <td>
                {item.source}
                {item.stage && ` / ${item.stage}`}
              </td>
              <td>
                <pre>{item.message}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && (
        <button type="button" onClick={() => void more()}>
          Older
        </button>
      )}
    </Panel>
  );
}

const WINDOWS = ['15m', '1h', '24h', '7d'];
const STATS_POLL_MS = 5000;

/** Query statistics of a window, per statement type, as a bar chart: executions and p50/p95 latency. */
export function Stats({ api }: { api: Api }) {
  const [window, setWindow] = useState('1h');
  const stats = usePoll(() => api.dashboard<QueryStats>('get_query_stats', { window }), STATS_POLL_MS, () => false, [window]);
  const rows = Object.entries(stats.data?.by_statement_type ?? {});
  return (
    <Panel
      title="Query statistics"
      actions={
        <select aria-label="Window" value={window} onChange={(e) => setWindow(e.currentTarget.value)}>
          {WINDOWS.map((w) => (
            <option key={w}>{w}</option>
          ))}
        </select>
      }
    >
      <ErrorLine error={stats.error} />
      {stats.data && (
        <p>
          {stats.data.total.count} queries, {stats.data.total.errors} errors; p50 {ms(stats.data.total.p50_ms)}, p95 {ms(stats.data.total.p95_ms)}
        </p>
      )}
      {rows.length > 0 && <Chart rows={rows} />}
    </Panel>
  );
}

const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);

const BAR = 22;
const GAP = 14;
const LABEL = 80;
const WIDTH = 560;

/** Two bars per statement type: executions (errors darker) and p95 latency (p50 marked), each scaled to its own maximum. */
function Chart({ rows }: { rows: Array<[string, Latency]> }) {
  const maxCount = Math.max(...rows.map(([, l]) => l.count), 1);
  const maxMs = Math.max(...rows.map(([, l]) => l.p95_ms ?? 0), 0.001);
  const span = (WIDTH - LABEL) / 2 - 50; // room after each bar for its value
  const height = rows.length * (BAR + GAP) + 20;
  return (
    <svg class="chart" role="img" aria-label="Queries per statement type" viewBox={`0 0 ${WIDTH} ${height}`} width={WIDTH} height={height}>
      <text x={LABEL} y={12} class="axis">
        executions (errors)
      </text>
      <text x={LABEL + span + 20} y={12} class="axis">
        p95 latency (p50 |)
      </text>
      {rows.map(([type, l], i) => {
        const y = 20 + i * (BAR + GAP);
        const countWidth = (l.count / maxCount) * span;
        const p95 = ((l.p95_ms ?? 0) / maxMs) * span;
        const p50 = ((l.p50_ms ?? 0) / maxMs) * span;
        return (
          <g key={type}>
            <text x={0} y={y + BAR * 0.7}>
              {type}
            </text>
            <rect class="count" x={LABEL} y={y} width={countWidth} height={BAR} />
            <rect class="errors" x={LABEL} y={y} width={(l.errors / maxCount) * span} height={BAR} />
            <text x={LABEL + countWidth + 4} y={y + BAR * 0.7}>
              {l.count}
            </text>
            <rect class="latency" x={LABEL + span + 20} y={y} width={p95} height={BAR} />
            <line class="p50" x1={LABEL + span + 20 + p50} x2={LABEL + span + 20 + p50} y1={y} y2={y + BAR} />
            <text x={LABEL + span + 24 + p95} y={y + BAR * 0.7}>
              {ms(l.p95_ms)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
