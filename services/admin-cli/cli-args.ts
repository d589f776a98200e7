// Command-line parsing for oauth-admin: node:util parseArgs in strict mode, with its errors turned
// into one short line, and typed accessors for the parsed values. Nothing here touches the
// database or NATS, so every usage mistake is found before anything changes.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

import { UsageError } from '#shared/usage-error.ts';

export { UsageError };

export type OptionSpec = ParseArgsOptionsConfig;
export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;
export type Parsed = { values: ParsedValues; positionals: string[] };

/**
 * Parses `argv` for the command `commandLine` ("clients create"): every option must be declared,
 * values must be present, and the number of positionals must lie in [min, max].
 */
export function parseCommandArgs(commandLine: string, argv: string[], options: OptionSpec, positionals: { names: string[]; min: number }): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true, allowNegative: false }) as Parsed;
  } catch (error) {
    throw new UsageError(describeParseError(commandLine, error as Error & { code?: string }));
  }
  const given = parsed.positionals.length;
  if (given < positionals.min) {
    const missing = positionals.names[given] ?? 'argument';
    throw new UsageError(`missing <${missing}> for "${commandLine}" (see oauth-admin ${commandLine} --help)`);
  }
  if (given > positionals.names.length) {
    // The extra value is not echoed: it might be a password typed in the wrong place.
    const takes = positionals.names.length ? `it takes ${positionals.names.map((n) => `<${n}>`).join(' ')}` : 'it takes none';
    throw new UsageError(`too many arguments for "${commandLine}": ${takes} (see oauth-admin ${commandLine} --help)`);
  }
  return parsed;
}

function describeParseError(commandLine: string, error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  const hint = `(see oauth-admin ${commandLine} --help)`;
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? ''} for "${commandLine}" ${hint}`.replace('  ', ' ');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/i.test(error.message)) return `option ${option ?? ''} needs a value ${hint}`;
      if (/ambiguous/i.test(error.message)) return `option ${option ?? ''} needs a value (write ${option ?? '--option'}=-value for a value that starts with a dash)`;
      return `option ${option ?? ''} does not take a value ${hint}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument for "${commandLine}" ${hint}`;
    default:
      return `invalid arguments for "${commandLine}" ${hint}`;
  }
}

/** True when a help flag appears before any `--` terminator. */
export function wantsHelp(argv: string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

export const flag = (values: ParsedValues, name: string): boolean => values[name] === true;

export function optionalString(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredString(values: ParsedValues, name: string, commandLine: string): string {
  const value = optionalString(values, name);
  if (value === undefined) throw new UsageError(`"${commandLine}" needs --${name} (see oauth-admin ${commandLine} --help)`);
  return value;
}

export function stringList(values: ParsedValues, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** A whole number of seconds written as digits only ("3600"), or undefined when the option is absent. */
export function optionalSeconds(values: ParsedValues, name: string): number | undefined {
  const value = optionalString(values, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value)) throw new UsageError(`--${name} must be a whole number of seconds, not "${value}"`);
  return Number(value);
}

const DURATION_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "2h", "7d" → milliseconds. */
export function parseDuration(value: string, name: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(value);
  if (!match) throw new UsageError(`--${name} must be a duration such as 30s, 15m, 2h or 7d, not "${value}"`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
}
