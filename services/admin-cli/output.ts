// Output of oauth-admin: results on stdout (tables, fields, or JSON with --json), warnings and
// errors as single `oauth-admin: …` lines on stderr. Values from the database are shown with
// control characters replaced, so a stored name cannot drive the operator's terminal.
export type Io = {
  out(text: string): void;
  warn(message: string): void;
};

export function processIo(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Io {
  // A reader that went away (`oauth-admin audit tail | head -1`) ends the run quietly.
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  return {
    out: (text) => void stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    warn: (message) => void stderr.write(`oauth-admin: warning: ${oneLine(message)}\n`),
  };
}

/** Collapses a message to one printable line. */
export function oneLine(text: string): string {
  return printable(text.replace(/\s*[\r\n]+\s*/g, ' ')).trim();
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export const printable = (text: string): string => text.replace(CONTROL, '?');

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

export type Cell = string | number | boolean | Date | null | undefined | readonly string[];

function cellText(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(' ');
  return printable(String(value));
}

/** Rows under a header, columns padded; "(none)" when there is nothing to show. */
export function printTable(io: Io, headers: string[], rows: Cell[][]): void {
  if (rows.length === 0) {
    io.out('(none)');
    return;
  }
  const text = rows.map((row) => row.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.out([line(headers.map((h) => h.toUpperCase())), ...text.map(line)].join('\n'));
}

/** `name: value` lines, names aligned. */
export function printFields(io: Io, fields: [string, Cell][]): void {
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  io.out(fields.map(([name, value]) => `${`${name}:`.padEnd(width)} ${cellText(value)}`).join('\n'));
}
