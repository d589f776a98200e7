// oauth-admin users create|list|show|delete|disable|enable
import { flag, stringList, UsageError } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { listCommand, showCommand } from './record-commands.ts';
import { printJson } from './output.ts';
import { listUsers, showUser, type UserView } from './reference-data-inspect.ts';
import { userDeleteCommand, userDisableCommand, userEnableCommand } from './access-commands.ts';
import { readPassword } from './read-password.ts';

const userJson = (u: UserView) => ({ sub: u.sub, username: u.username, groups: u.groups, disabled: u.disabled, created_at: u.createdAt.toISOString() });

export const usersCommands: CommandGroup = {
  name: 'users',
  summary: 'resource owners who sign in (passwords stored only as argon2id hashes)',
  commands: [
    {
      name: 'create',
      summary: 'create a user; the password is read from standard input',
      usage: '<username> --password-stdin [--group <g>]... [--json]',
      description: [
        'Creates a user. The password is read from standard input (one trailing newline is removed), never from',
        'the command line or the environment; at a terminal it is asked for twice without echo. It is stored only as',
        'an argon2id hash. Groups (repeat --group) are matched by resource rules.',
      ].join('\n'),
      examples: [
        'printf %s "$NEW_PASSWORD" | oauth-admin users create alice --password-stdin --group staff',
        'oauth-admin users create bob --password-stdin < password.txt',
      ],
      options: { 'password-stdin': { type: 'boolean' }, group: { type: 'string', multiple: true }, ...jsonOption },
      positionals: { names: ['username'], min: 1 },
      nats: 'optional',
      async prepare({ values, positionals }) {
        if (!flag(values, 'password-stdin')) {
          throw new UsageError('"users create" needs --password-stdin: the password is read from standard input, never from the command line');
        }
        const username = positionals[0]!;
        const groups = stringList(values, 'group');
        const password = await readPassword();
        return async (ctx) => {
          const [{ createUser, ensureReferenceIndexes }, { createLogger }] = await Promise.all([import('./reference-data-admin.ts'), import('#shared/logger.ts')]);
          await ensureReferenceIndexes(ctx.db, createLogger('oauth-admin', 'silent'));
          const { sub } = await createUser(ctx.db, { username, password, groups });
          ctx.changed('users', 'oauth.user.created', username, { sub, username });
          if (flag(values, 'json')) printJson(ctx.io, { sub, username, groups: [...new Set(groups)] });
          else ctx.io.out(`Created user ${username} (sub ${sub})`);
        };
      },
    },
    listCommand({
      summary: 'list users', description: 'Lists every user with subject identifier and groups (never a password hash).', examples: ['oauth-admin users list'],
      load: listUsers, json: userJson, columns: ['username', 'sub', 'groups'], row: (u) => [u.username, u.sub, u.groups],
    }),
    showCommand({
      summary: 'show one user', description: 'Shows a user (never the password hash).', examples: ['oauth-admin users show alice --json'],
      key: 'username', load: showUser, json: userJson,
      fields: (user) => [['username', user.username], ['sub', user.sub], ['groups', user.groups], ['disabled', user.disabled ? 'yes' : 'no'], ['created', user.createdAt]],
    }),
    userDeleteCommand,
    userDisableCommand,
    userEnableCommand,
  ],
};
