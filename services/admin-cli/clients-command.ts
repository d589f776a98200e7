// oauth-admin clients create|list|show|delete|disable|enable|rotate-secret
import { ClientGrantTypes, ClientTypes, type ClientGrantType, type ClientType } from '#shared/reference-data/clients.ts';
import { flag, optionalSeconds, requiredString, stringList, UsageError } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { listCommand, showCommand } from './record-commands.ts';
import { printJson, type Io } from './output.ts';
import { listClients, showClient, type ClientView } from './reference-data-inspect.ts';
import { clientDeleteCommand, clientDisableCommand, clientEnableCommand } from './access-commands.ts';

const clientJson = (c: ClientView) => ({
  client_id: c.clientId,
  name: c.name,
  type: c.type,
  redirect_uris: c.redirectUris,
  scopes: c.scopes,
  refresh_tokens: c.refreshTokens,
  grant_types: c.grantTypes,
  refresh_grace_seconds: c.refreshGraceSeconds,
  access_token_ttl_seconds: c.accessTokenTtlSeconds,
  refresh_token_ttl_seconds: c.refreshTokenTtlSeconds,
  created_at: c.createdAt.toISOString(),
  disabled: c.disabled,
  require_dpop: c.requireDpop,
  require_par: c.requirePar,
  updated_at: c.updatedAt.toISOString(),
});

function printSecret(io: Io, clientId: string, clientSecret: string, heading: string): void {
  io.out([
    heading,
    `  client_id:     ${clientId}`,
    `  client_secret: ${clientSecret}`,
    '',
    'The client secret is shown only once: store it now. Only its hash is kept; if it is lost,',
    `run: oauth-admin clients rotate-secret ${clientId}`,
  ].join('\n'));
}

function clientGrantType(value: string): ClientGrantType {
  if (!(ClientGrantTypes as readonly string[]).includes(value)) throw new UsageError(`--grant-type must be authorization_code or client_credentials, not "${value}"`);
  return value as ClientGrantType;
}

function clientType(value: string): ClientType {
  if (!(ClientTypes as readonly string[]).includes(value)) throw new UsageError(`--type must be confidential or public, not "${value}"`);
  return value as ClientType;
}

export const clientsCommands: CommandGroup = {
  name: 'clients',
  summary: 'OAuth clients (confidential clients get a secret, shown once and stored only as a hash)',
  commands: [
    {
      name: 'create',
      summary: 'register a client',
      usage: '--name <n> --type confidential|public --redirect-uri <uri>... --scope <s>... [--grant-type authorization_code|client_credentials]... '
        + '[--refresh-tokens] [--refresh-grace-seconds <0-60>] [--access-token-ttl <seconds>] [--refresh-token-ttl <seconds>]'
        + ' [--require-par] [--require-dpop] [--json]',
      description: [
        'Registers a client and prints its client_id and, for a confidential client, its client_secret. The secret',
        'is shown only once and stored only as a SHA-256 hash. Redirect URIs are matched exactly; each must be',
        'absolute, without fragment or user information, https (http only for localhost, 127.0.0.1 or [::1]) or a',
        'private-use scheme such as com.example.app:/cb. Scopes must exist (oauth-admin scopes create).',
        'Public clients have no secret and must use PKCE. --refresh-tokens lets the client get refresh tokens.',
        'TTLs: access tokens 60 to 86400 s (default 600), refresh tokens 300 to 31536000 s (default 2592000).',
        '--grant-type (repeatable): authorization_code (the default) and/or client_credentials, which only a confidential',
        'client may have; a client with only client_credentials needs no --redirect-uri and gets tokens for itself (sub = client_id).',
        '--refresh-grace-seconds (0 to 60, default 0): within that many seconds of a refresh token\'s rotation, the client may',
        'present it once more and get a normal answer (a lost response retried); any later or further presentation is reuse.',
        '--require-dpop: every token request of the client must carry a DPoP proof (RFC 9449); its tokens are then key-bound.',
        '--require-par: the client\'s authorization requests are refused unless pushed first (PAR, RFC 9126).',
        'With --json, stdout is one JSON object: {"client_id": ..., "client_secret": ...}.',
      ].join('\n'),
      examples: [
        'oauth-admin clients create --name "Photo app" --type confidential --redirect-uri https://app.example.com/cb --scope photos.read --refresh-tokens',
        'oauth-admin clients create --name CLI --type public --redirect-uri http://127.0.0.1:8765/cb --scope photos.read --json',
        'oauth-admin clients create --name "Billing job" --type confidential --grant-type client_credentials --scope invoices.read --json',
      ],
      options: {
        name: { type: 'string' },
        type: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        scope: { type: 'string', multiple: true },
        'refresh-tokens': { type: 'boolean' },
        'grant-type': { type: 'string', multiple: true },
        'refresh-grace-seconds': { type: 'string' },
        'access-token-ttl': { type: 'string' },
        'refresh-token-ttl': { type: 'string' },
        'require-dpop': { type: 'boolean' },
        'require-par': { type: 'boolean' },
        ...jsonOption,
      },
      positionals: { names: [], min: 0 },
      nats: 'optional',
      prepare({ values }, commandLine) {
        const name = requiredString(values, 'name', commandLine);
        const type = clientType(requiredString(values, 'type', commandLine));
        const redirectUris = stringList(values, 'redirect-uri');
        const scopes = stringList(values, 'scope');
        const grantTypes = stringList(values, 'grant-type').map(clientGrantType);
        const codeGrant = grantTypes.length === 0 || grantTypes.includes('authorization_code');
        if (codeGrant && redirectUris.length === 0) throw new UsageError(`"${commandLine}" needs at least one --redirect-uri`);
        if (grantTypes.includes('client_credentials') && type !== 'confidential') {
          throw new UsageError('--grant-type client_credentials is for confidential clients only');
        }
        if (scopes.length === 0) throw new UsageError(`"${commandLine}" needs at least one --scope`);
        const accessTokenTtlSeconds = optionalSeconds(values, 'access-token-ttl');
        const refreshTokenTtlSeconds = optionalSeconds(values, 'refresh-token-ttl');
        const refreshGraceSeconds = optionalSeconds(values, 'refresh-grace-seconds');
        return async (ctx) => {
          const { createClient } = await import('./reference-data-admin.ts');
          const created = await createClient(ctx.db, {
            name, type, redirectUris, scopes, refreshTokens: flag(values, 'refresh-tokens'),
            ...(accessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds } : {}),
            ...(refreshTokenTtlSeconds !== undefined ? { refreshTokenTtlSeconds } : {}),
            ...(grantTypes.length > 0 ? { grantTypes } : {}),
            ...(refreshGraceSeconds !== undefined ? { refreshGraceSeconds } : {}),
            ...(flag(values, 'require-dpop') ? { requireDpop: true } : {}),
            ...(flag(values, 'require-par') ? { requirePar: true } : {}),
          });
          ctx.changed('clients', 'oauth.client.created', created.clientId, { client_id: created.clientId, scope: [...new Set(scopes)].join(' ') });
          if (flag(values, 'json')) {
            printJson(ctx.io, { client_id: created.clientId, ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) });
          } else if (created.clientSecret) {
            printSecret(ctx.io, created.clientId, created.clientSecret, `Created confidential client "${name}"`);
          } else {
            ctx.io.out(`Created public client "${name}"\n  client_id: ${created.clientId}\n\nPublic clients have no secret; they must use PKCE (S256).`);
          }
        };
      },
    },
    listCommand({
      summary: 'list clients', description: 'Lists every client (never a secret or its hash).', examples: ['oauth-admin clients list', 'oauth-admin clients list --json'],
      load: listClients, json: clientJson, columns: ['client_id', 'type', 'name', 'scopes', 'grant_types', 'refresh_grace'],
      row: (c) => [c.clientId, c.type, c.name, c.scopes, c.grantTypes, `${c.refreshGraceSeconds} s`],
    }),
    showCommand({
      summary: 'show one client', description: 'Shows a client\'s settings (never its secret or the secret\'s hash).',
      examples: ['oauth-admin clients show c_AbC123 --json'], key: 'client_id', load: showClient, json: clientJson,
      fields: (c) => [
        ['client_id', c.clientId], ['name', c.name], ['type', c.type], ['redirect_uris', c.redirectUris], ['scopes', c.scopes],
        ['refresh_tokens', c.refreshTokens ? 'yes' : 'no'], ['grant_types', c.grantTypes], ['refresh_grace', `${c.refreshGraceSeconds} s`],
        ['access_token_ttl', `${c.accessTokenTtlSeconds} s`], ['refresh_token_ttl', `${c.refreshTokenTtlSeconds} s`], ['disabled', c.disabled ? 'yes' : 'no'],
        ['require_par', c.requirePar ? 'yes' : 'no'], ['require_dpop', c.requireDpop ? 'yes' : 'no'], ['created', c.createdAt], ['updated', c.updatedAt],
      ],
    }),
    clientDeleteCommand,
    clientDisableCommand,
    clientEnableCommand,
    {
      name: 'rotate-secret',
      summary: 'give a confidential client a new secret (the old one stops working)',
      usage: '<client_id> [--json]',
      description: 'Generates a new secret for a confidential client and replaces the stored hash; the old secret stops working at once. The new secret is shown only once.',
      examples: ['oauth-admin clients rotate-secret c_AbC123 --json'],
      options: { ...jsonOption },
      positionals: { names: ['client_id'], min: 1 },
      nats: 'optional',
      prepare: ({ values, positionals }) => async (ctx) => {
        const clientId = positionals[0]!;
        const { rotateClientSecret } = await import('./reference-data-admin.ts');
        const { clientSecret } = await rotateClientSecret(ctx.db, clientId);
        ctx.changed('clients', 'oauth.client.secret_rotated', clientId, { client_id: clientId });
        if (flag(values, 'json')) printJson(ctx.io, { client_id: clientId, client_secret: clientSecret });
        else printSecret(ctx.io, clientId, clientSecret, `New secret for client ${clientId}`);
      },
    },
  ],
};
