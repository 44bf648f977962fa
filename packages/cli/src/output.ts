/** Where commands write. Tests and the dashboard never need more than these two streams. */
export interface Output {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export const processOutput: Output = { out: process.stdout, err: process.stderr };

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
}

/** Longest cell text before it is cut with an ellipsis, so one huge value cannot wreck the table. */
const maxCellWidth = 60;

const cell = (text: string) => {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > maxCellWidth ? `${flat.slice(0, maxCellWidth - 1)}…` : flat;
};

/** A plain aligned table with a header row; `(none)` when there are no rows. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...cells.map((line) => line[index]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => (index === values.length - 1 ? value : value.padEnd(widths[index]!)))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((column) => column.header)), ...cells.map(line)].join('\n')}\n`;
}

/** Two columns, field and value: for one entity. */
export function formatRecord(fields: readonly [string, string][]): string {
  const width = Math.max(...fields.map(([field]) => field.length));
  return `${fields.map(([field, value]) => `${field.padEnd(width)}  ${value}`).join('\n')}\n`;
}

export const formatJson = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export const formatTime = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());

/** `850ms`, `12.3s`, `4m05s`, `2h07m`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** A short one-line rendering of a stored JSON value for a table cell. */
export const formatValue = (value: unknown) => (value === undefined ? '-' : JSON.stringify(value));
