import Table from 'cli-table3';

/** A value as a table cell: NULL for null, JSON for objects, the text otherwise. */
const cell = (value: unknown): string => (value === null || value === undefined ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value));

/** No rule between rows (one line a row), and no colours: output is often piped. */
const LOOK = { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }, style: { head: [], border: [] } };

/** Rows as a bordered text table, columns in the order given. */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  const out = new Table({ head: [...columns], ...LOOK });
  for (const row of rows) out.push(columns.map((c) => cell(row[c])));
  return out.toString();
}

/** A record as two columns, field and value. */
export function fields(record: Record<string, unknown>): string {
  const out = new Table(LOOK);
  for (const [key, value] of Object.entries(record)) out.push({ [key]: cell(value) });
  return out.toString();
}

/** The command's result on stdout. */
export const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/** --json: the result as one JSON document on stdout. */
export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

/** Progress and hints for a person, on stderr: stdout stays the result alone. */
export const note = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
