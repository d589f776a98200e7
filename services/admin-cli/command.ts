// The shape of an oauth-admin command. `prepare` checks the command line (and reads standard input
// where the command takes it) before any connection is opened, so a usage mistake changes nothing;
// it returns the runner that does the work against the database and NATS.
import type { OptionSpec, Parsed } from './cli-args.ts';
import type { CliContext, NatsNeed } from './cli-context.ts';

export type Runner = (ctx: CliContext) => Promise<void>;

export type Command = {
  name: string;
  summary: string;
  /** Arguments after "oauth-admin <group> <name>", e.g. "<name> --description <text> [--json]". */
  usage: string;
  description: string;
  examples: string[];
  options: OptionSpec;
  positionals: { names: string[]; min: number };
  nats: NatsNeed;
  /** False for commands that never touch the database (audit tail). */
  database?: false;
  /**
   * True for commands that encrypt under the key-encryption key (keys rotate): without
   * OAUTH_KEY_ENCRYPTION_KEY they refuse (exit 78) unless everything is loopback, before connecting.
   */
  usesKeyEncryptionKey?: true;
  prepare(args: Parsed, commandLine: string): Runner | Promise<Runner>;
};

export type CommandGroup = { name: string; summary: string; commands: Command[] };

export const jsonOption = { json: { type: 'boolean' } } as const;
