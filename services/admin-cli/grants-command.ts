// oauth-admin grants list|revoke: the live grants (token-service's refresh token families) of a
// user or a client, and ending them: one by its grant id, or all of a user's or a client's.
import { flag, optionalString, UsageError, type ParsedValues } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { printJson, printTable } from './output.ts';
import { checkClientId, checkUsername } from './access-commands.ts';
import { actionInstant, endAccessOf, endGrant, liveFamilies, type Holder } from './end-access.ts';
import { GRANT_ID, grantView, liveGrant, type GrantView } from './grants-admin.ts';
import { findClientRef, findUserRef } from './reference-access.ts';
import type { CliContext } from './cli-context.ts';

const grantJson = (g: GrantView) => ({
  grant_id: g.grantId, client_id: g.clientId, username: g.username, sub: g.sub, scope: g.scope,
  created: g.created.toISOString(), expires: g.expires.toISOString(),
});

type Who = { user: string } | { client: string };

/** Exactly one of --user and --client, well formed. */
function who(values: ParsedValues, commandLine: string, alternative = ''): Who | undefined {
  const user = optionalString(values, 'user');
  const client = optionalString(values, 'client');
  if (user !== undefined && client !== undefined) throw new UsageError(`"${commandLine}" takes --user or --client, not both`);
  if (user !== undefined) return { user: checkUsername(user) };
  if (client !== undefined) return { client: checkClientId(client) };
  if (alternative) return undefined;
  throw new UsageError(`"${commandLine}" needs --user <username> or --client <client_id> (see oauth-admin ${commandLine} --help)`);
}

/** The holder named on the command line; a refusal when the user or client does not exist. */
async function holderOf(ctx: CliContext, named: Who): Promise<{ holder: Holder; subject: string; username?: string }> {
  if ('user' in named) {
    const user = await findUserRef(ctx.db, named.user);
    return { holder: { sub: user.sub }, subject: user.username, username: user.username };
  }
  const client = await findClientRef(ctx.db, named.client);
  return { holder: { clientId: client.clientId }, subject: client.clientId };
}

const grantOptions = { user: { type: 'string' }, client: { type: 'string' } } as const;

export const grantsCommands: CommandGroup = {
  name: 'grants',
  summary: 'grants users gave clients (refresh token families): list and revoke',
  commands: [
    {
      name: 'list',
      summary: 'list the live grants of a user or a client',
      usage: '(--user <username> | --client <client_id>) [--json]',
      description: [
        'Lists the live grants (unrevoked, unexpired refresh token families) of one user or one client: grant id,',
        'client, user, scope and when it was created. With --json, a JSON array of objects with grant_id, client_id,',
        'username, sub, scope, created and expires. Grants of clients without refresh tokens have no refresh token',
        'family and are not listed; they end through "grants revoke --user|--client" or the users/clients commands.',
      ].join('\n'),
      examples: ['oauth-admin grants list --user alice', 'oauth-admin grants list --client c_AbC123 --json'],
      options: { ...grantOptions, ...jsonOption },
      positionals: { names: [], min: 0 },
      nats: 'none',
      prepare: ({ values }, commandLine) => {
        const named = who(values, commandLine)!;
        return async (ctx) => {
          const { holder } = await holderOf(ctx, named);
          const grants = (await liveFamilies(ctx.db, holder, await actionInstant(ctx.db))).map(grantView);
          if (flag(values, 'json')) printJson(ctx.io, grants.map(grantJson));
          else printTable(ctx.io, ['grant_id', 'client_id', 'username', 'scope', 'created'], grants.map((g) => [g.grantId, g.clientId, g.username, g.scope, g.created]));
        };
      },
    },
    {
      name: 'revoke',
      summary: 'end one grant, or every grant of a user or a client',
      usage: '(<grant_id> | --user <username> | --client <client_id>)',
      description: [
        'Ends grants within a second: their refresh tokens are refused (invalid_grant) and their access tokens are',
        'inactive at oauth.token.validate and introspection. With <grant_id>, that grant. With --user or --client,',
        'every token issued to that user or client until now, including grants of clients without refresh tokens',
        '(they have no stored family); the user and client stay as they are and may sign in and be granted anew.',
        'An older grant id that begins with "-" goes after "--": oauth-admin grants revoke -- -AbC…',
      ].join('\n'),
      examples: ['oauth-admin grants revoke Zk3pQ0r-1aB2c3D4e5F6g7', 'oauth-admin grants revoke --user alice', 'oauth-admin grants revoke --client c_AbC123'],
      options: { ...grantOptions },
      positionals: { names: ['grant_id'], min: 0 },
      nats: 'optional',
      prepare: ({ values, positionals }, commandLine) => {
        const grantId = positionals[0];
        const named = who(values, commandLine, 'grant_id');
        if (grantId !== undefined && named) throw new UsageError(`"${commandLine}" takes a <grant_id> or --user/--client, not both`);
        if (grantId === undefined && !named) throw new UsageError(`"${commandLine}" needs a <grant_id>, --user <username> or --client <client_id>`);
        if (grantId !== undefined && !GRANT_ID.test(grantId)) throw new UsageError('malformed <grant_id>: 22 characters of letters, digits, - and _');
        return async (ctx) => {
          if (grantId !== undefined) {
            const family = await liveGrant(ctx.db, grantId, await actionInstant(ctx.db));
            await endGrant(ctx, family);
            ctx.changed(undefined, 'oauth.grant.revoked', family.username || family.clientId, {
              grant_id: family._id, client_id: family.clientId, sub: family.sub, username: family.username, count: 1,
            });
            ctx.io.out(`Revoked grant ${family._id} (client ${family.clientId}, user ${family.username})`);
            return;
          }
          const { holder, subject, username } = await holderOf(ctx, named!);
          const { grants } = await endAccessOf(ctx, holder);
          const data = 'sub' in holder ? { sub: holder.sub, username } : { client_id: holder.clientId };
          ctx.changed(undefined, 'oauth.grant.revoked', subject, { ...data, count: grants });
          ctx.io.out(`Revoked every grant of ${'sub' in holder ? 'user' : 'client'} ${subject}: ${grants} live grant${grants === 1 ? '' : 's'} ended; every token issued until now is refused`);
        };
      },
    },
  ],
};
