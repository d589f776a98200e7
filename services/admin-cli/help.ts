// --help texts for every level: oauth-admin, oauth-admin <group>, oauth-admin <group> <command>.
import type { Command, CommandGroup } from './command.ts';

const EXIT_CODES = 'Exit status: 0 done, 1 refused or failed, 2 usage mistake, 78 configuration error.';
const ENVIRONMENT = [
  'Environment:',
  '  MONGODB_URI               database (default mongodb://127.0.0.1:27017/oauth)',
  '  NATS_URL                  NATS, for announcements and audit events (default nats://127.0.0.1:4222)',
  '  OAUTH_ISSUER              issuer URL (default http://localhost:8080)',
  '  OAUTH_KEY_ENCRYPTION_KEY  key-encryption key for signing keys (keys rotate); DEBUG=1 shows stack traces',
].join('\n');

export function topHelp(groups: CommandGroup[]): string {
  const width = Math.max(...groups.map((g) => g.name.length)) + 2;
  return [
    'oauth-admin: manage the authorization server\'s clients, users, grants, scopes, resource rules, signing keys and audit trail',
    '',
    'Usage: oauth-admin <group> <command> [options]',
    '       oauth-admin <group> [<command>] --help',
    '',
    'Groups:',
    ...groups.map((g) => `  ${g.name.padEnd(width)}${g.summary}`),
    '',
    'Every change is announced to the running services and recorded as an audit event (oauth.audit.*).',
    'list and show take --json; nothing ever prints a password, a secret hash or a private key.',
    'users delete|disable, clients delete|disable and grants revoke end access within a second: every token',
    'issued until then is refused everywhere (stored before anything else changes).',
    '',
    ENVIRONMENT,
    '',
    EXIT_CODES,
  ].join('\n');
}

export function groupHelp(group: CommandGroup): string {
  const width = Math.max(...group.commands.map((c) => c.name.length)) + 2;
  return [
    `oauth-admin ${group.name}: ${group.summary}`,
    '',
    'Usage:',
    ...group.commands.map((c) => `  oauth-admin ${group.name} ${c.name} ${c.usage}`.trimEnd()),
    '',
    'Commands:',
    ...group.commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    `Run "oauth-admin ${group.name} <command> --help" for details.`,
  ].join('\n');
}

export function commandHelp(group: CommandGroup, command: Command): string {
  return [
    `Usage: oauth-admin ${group.name} ${command.name} ${command.usage}`.trimEnd(),
    '',
    command.description,
    '',
    'Examples:',
    ...command.examples.map((e) => `  ${e}`),
    '',
    EXIT_CODES,
  ].join('\n');
}
