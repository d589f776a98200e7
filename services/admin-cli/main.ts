// oauth-admin: wiring only. Command line → checked input (usage mistakes stop here, exit 2) →
// configuration (exit 78) → database and NATS → one command → announcements and audit flushed,
// NATS drained → exit. Every failure is one `oauth-admin: <reason>` line on stderr.
import type * as ConfigModule from '#shared/config.ts';
import { parseCommandArgs, UsageError, wantsHelp } from './cli-args.ts';
import type { CommandGroup } from './command.ts';
import { commandHelp, groupHelp, topHelp } from './help.ts';
import { oneLine, processIo, type Io } from './output.ts';
import { clientsCommands } from './clients-command.ts';
import { usersCommands } from './users-command.ts';
import { scopesCommands } from './scopes-command.ts';
import { resourcesCommands } from './resources-command.ts';
import { resourceServersCommands } from './resource-servers-command.ts';
import { keysCommands } from './keys-command.ts';
import { auditCommands } from './audit-command.ts';
import { grantsCommands } from './grants-command.ts';

export const EXIT = { ok: 0, refused: 1, usage: 2, config: 78 } as const;

const groups: CommandGroup[] = [
  clientsCommands, usersCommands, grantsCommands, scopesCommands, resourcesCommands, resourceServersCommands, keysCommands, auditCommands,
];

/** Runs one command line and returns the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo()): Promise<number> {
  try {
    return await run(argv, env, io);
  } catch (error) {
    return reportError(error, env);
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const [groupName, commandName, ...rest] = argv;
  if (groupName === undefined) throw new UsageError('missing command (see oauth-admin --help)');
  if (groupName === '--help' || groupName === '-h' || groupName === 'help') {
    io.out(topHelp(groups));
    return EXIT.ok;
  }
  const group = groups.find((g) => g.name === groupName);
  if (!group) throw new UsageError(`unknown command "${groupName}" (one of: ${groups.map((g) => g.name).join(', ')}; see oauth-admin --help)`);
  if (commandName === '--help' || commandName === '-h' || commandName === 'help') {
    io.out(groupHelp(group));
    return EXIT.ok;
  }
  if (commandName === undefined) throw new UsageError(`missing command after "${group.name}" (one of: ${group.commands.map((c) => c.name).join(', ')})`);
  const command = group.commands.find((c) => c.name === commandName);
  if (!command) throw new UsageError(`unknown command "${group.name} ${commandName}" (one of: ${group.commands.map((c) => c.name).join(', ')})`);
  if (wantsHelp(rest)) {
    io.out(commandHelp(group, command));
    return EXIT.ok;
  }

  const commandLine = `${group.name} ${command.name}`;
  const runner = await command.prepare(parseCommandArgs(commandLine, rest, command.options, command.positionals), commandLine);
  // Loaded only now: --help and usage mistakes answer without the database driver, NATS or TypeBox.
  const { CommonConfigSchema, parseConfig } = await loadConfigModule();
  // The public development key is refused off loopback only for commands that use a key-encryption key.
  const config = parseConfig(CommonConfigSchema, env, { checkDevelopmentKey: command.usesKeyEncryptionKey ?? false });
  const { openContext } = await import('./cli-context.ts');
  const ctx = await openContext(config, io, command.nats, command.database ?? true);
  try {
    await runner(ctx);
  } finally {
    await ctx.close();
  }
  return EXIT.ok;
}

let configModule: typeof ConfigModule | undefined;
const loadConfigModule = async () => (configModule ??= await import('#shared/config.ts'));

function reportError(error: unknown, env: NodeJS.ProcessEnv): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`oauth-admin: ${oneLine(message)}\n`);
  if (env.DEBUG === '1' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  if (error instanceof UsageError) return EXIT.usage;
  if (configModule && error instanceof configModule.ConfigError) return EXIT.config;
  // AdminError (a refusal) and anything unexpected.
  return EXIT.refused;
}

/** Exits once stdout and stderr have taken everything written (they may be pipes). */
export async function exitAfterOutput(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
  process.exit(code);
}

if (import.meta.main) {
  void main(process.argv.slice(2)).then(exitAfterOutput);
}
