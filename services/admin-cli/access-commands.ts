// oauth-admin users delete|disable|enable and clients delete|disable|enable: ending a user's or a
// client's access (CONTRACT "Ending access (operators)"). Each ends every token first (end-access.ts),
// then changes the document, then announces the change and emits the audit event.
import { USERNAME } from '#shared/reference-data/users.ts';
import { UsageError } from './cli-args.ts';
import type { Command } from './command.ts';
import type { CliContext } from './cli-context.ts';
import { endAccessOf, sealAccessEnd } from './end-access.ts';
import { deleteClient, deleteUser } from './reference-data-delete.ts';
import { disableClient, disableUser, enableClient, enableUser, findClientRef, findUserRef } from './reference-access.ts';
import { AdminError } from './admin-error.ts';

/** Client ids as the CLI makes them (c_ and base64url), with room for ones made otherwise; nothing that could not be one. */
export const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

export function checkUsername(username: string): string {
  if (!USERNAME.test(username)) throw new UsageError('malformed <username>: 1 to 128 letters, digits and . _ @ + -');
  return username;
}

export function checkClientId(clientId: string): string {
  if (!CLIENT_ID.test(clientId)) throw new UsageError('malformed <client_id>: 1 to 128 letters, digits and . _ ~ -');
  return clientId;
}

const ended = (grants: number) => `${grants} live grant${grants === 1 ? '' : 's'} ended; every token issued until now is refused`;

const ONE_USER: Pick<Command, 'options' | 'positionals' | 'nats'> = { options: {}, positionals: { names: ['username'], min: 1 }, nats: 'optional' };
const ONE_CLIENT: Pick<Command, 'options' | 'positionals' | 'nats'> = { options: {}, positionals: { names: ['client_id'], min: 1 }, nats: 'optional' };

async function endUser(ctx: CliContext, username: string, change: (sub: string, endedAt: Date) => Promise<void>) {
  const user = await findUserRef(ctx.db, username);
  const { endedAt, grants } = await endAccessOf(ctx, { sub: user.sub });
  await change(user.sub, endedAt);
  return { sub: user.sub, grants };
}

export const userDeleteCommand: Command = {
  name: 'delete',
  summary: 'delete a user, ending their sessions, grants and tokens',
  usage: '<username>',
  description: [
    'Deletes a user and ends their access within a second: their consent-ui sessions end, every refresh token',
    'of their grants is refused (invalid_grant) and every access token issued to them is inactive at',
    'oauth.token.validate and introspection. The revocation is stored before the user is deleted, so a failure',
    'never leaves the user gone with tokens alive; run the command again to finish. Their remembered consents',
    'never apply to anyone (a new user of the same name gets a new subject identifier).',
  ].join('\n'),
  examples: ['oauth-admin users delete alice'],
  ...ONE_USER,
  prepare: ({ positionals }) => {
    const username = checkUsername(positionals[0]!);
    return async (ctx) => {
      const { sub, grants } = await endUser(ctx, username, async () => void (await deleteUser(ctx.db, username)));
      ctx.changed('users', 'oauth.user.deleted', username, { sub, username, count: grants });
      await sealAccessEnd(ctx, { sub });
      ctx.io.out(`Deleted user ${username}: sessions ended, ${ended(grants)}`);
    };
  },
};

export const userDisableCommand: Command = {
  name: 'disable',
  summary: 'stop a user signing in, and end their sessions, grants and tokens',
  usage: '<username>',
  description: [
    'Disables a user: within a second their sessions end, every refresh token of their grants is refused',
    '(invalid_grant) and every access token issued to them is inactive. Their sign-in fails with the same',
    'answer as a wrong password until "oauth-admin users enable". Enabling does not revive what this ended.',
  ].join('\n'),
  examples: ['oauth-admin users disable alice'],
  ...ONE_USER,
  prepare: ({ positionals }) => {
    const username = checkUsername(positionals[0]!);
    return async (ctx) => {
      const { sub, grants } = await endUser(ctx, username, (sub, endedAt) => disableUser(ctx.db, sub, endedAt));
      ctx.changed('users', 'oauth.user.disabled', username, { sub, username, count: grants });
      await sealAccessEnd(ctx, { sub });
      ctx.io.out(`Disabled user ${username}: sessions ended, ${ended(grants)}`);
    };
  },
};

export const userEnableCommand: Command = {
  name: 'enable',
  summary: 'let a disabled user sign in again',
  usage: '<username>',
  description: 'Enables a disabled user: they can sign in again. Sessions, grants and tokens ended by the disable stay ended.',
  examples: ['oauth-admin users enable alice'],
  ...ONE_USER,
  prepare: ({ positionals }) => {
    const username = checkUsername(positionals[0]!);
    return async (ctx) => {
      const user = await findUserRef(ctx.db, username);
      if (!user.disabled) throw new AdminError(`user "${username}" is not disabled`);
      await enableUser(ctx.db, user.sub);
      ctx.changed('users', 'oauth.user.enabled', username, { sub: user.sub, username });
      ctx.io.out(`Enabled user ${username}: they can sign in again`);
    };
  },
};

async function endClient(ctx: CliContext, clientId: string, change: (endedAt: Date) => Promise<void>) {
  await findClientRef(ctx.db, clientId);
  const { endedAt, grants } = await endAccessOf(ctx, { clientId });
  await change(endedAt);
  return grants;
}

export const clientDeleteCommand: Command = {
  name: 'delete',
  summary: 'delete a client, ending every token issued to it',
  usage: '<client_id>',
  description: [
    'Deletes the client and ends its access within a second: every token issued to it is inactive at',
    'oauth.token.validate and introspection, its refresh tokens are refused, and its new authorization requests',
    'and authentications fail. The revocation is stored before the client is deleted; if the command fails,',
    'run it again to finish.',
  ].join('\n'),
  examples: ['oauth-admin clients delete c_AbC123'],
  ...ONE_CLIENT,
  prepare: ({ positionals }) => {
    const clientId = checkClientId(positionals[0]!);
    return async (ctx) => {
      const grants = await endClient(ctx, clientId, () => deleteClient(ctx.db, clientId));
      ctx.changed('clients', 'oauth.client.deleted', clientId, { client_id: clientId, count: grants });
      await sealAccessEnd(ctx, { clientId });
      ctx.io.out(`Deleted client ${clientId}: ${ended(grants)}`);
    };
  },
};

export const clientDisableCommand: Command = {
  name: 'disable',
  summary: 'stop a client authenticating and authorizing, ending every token issued to it',
  usage: '<client_id>',
  description: [
    'Disables the client: within a second every token issued to it is inactive and refused, it cannot',
    'authenticate (invalid_client) and its authorization requests get the error page, until',
    '"oauth-admin clients enable". Enabling does not revive what this ended.',
  ].join('\n'),
  examples: ['oauth-admin clients disable c_AbC123'],
  ...ONE_CLIENT,
  prepare: ({ positionals }) => {
    const clientId = checkClientId(positionals[0]!);
    return async (ctx) => {
      const grants = await endClient(ctx, clientId, (endedAt) => disableClient(ctx.db, clientId, endedAt));
      ctx.changed('clients', 'oauth.client.disabled', clientId, { client_id: clientId, count: grants });
      await sealAccessEnd(ctx, { clientId });
      ctx.io.out(`Disabled client ${clientId}: ${ended(grants)}`);
    };
  },
};

export const clientEnableCommand: Command = {
  name: 'enable',
  summary: 'let a disabled client authenticate and authorize again',
  usage: '<client_id>',
  description: 'Enables a disabled client: it can authenticate and start authorizations again. Tokens ended by the disable stay ended.',
  examples: ['oauth-admin clients enable c_AbC123'],
  ...ONE_CLIENT,
  prepare: ({ positionals }) => {
    const clientId = checkClientId(positionals[0]!);
    return async (ctx) => {
      const client = await findClientRef(ctx.db, clientId);
      if (!client.disabled) throw new AdminError(`client "${clientId}" is not disabled`);
      await enableClient(ctx.db, clientId);
      ctx.changed('clients', 'oauth.client.enabled', clientId, { client_id: clientId });
      ctx.io.out(`Enabled client ${clientId}`);
    };
  },
};
