// oauth-admin resource-servers create|list|show|delete (RFC 8707 resource indicators)
import { flag, stringList, UsageError } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { deleteCommand, listCommand, showCommand } from './record-commands.ts';
import { printJson } from './output.ts';
import type { ResourceServerView } from './resource-servers-admin.ts';

const serverJson = (r: ResourceServerView) => ({ uri: r.uri, scopes: r.scopes, created_at: r.createdAt.toISOString() });

// The database driver loads only when a command runs (see scopes-command.ts).
const admin = () => import('./resource-servers-admin.ts');

export const resourceServersCommands: CommandGroup = {
  name: 'resource-servers',
  summary: 'resource servers clients may name as `resource` (RFC 8707): the token\'s aud, cut to the scopes they accept',
  commands: [
    {
      name: 'create',
      summary: 'register a resource server',
      usage: '<uri> --scope <s>... [--json]',
      description: [
        'Registers a resource server: an absolute URI without a fragment, compared as an exact string.',
        'Clients may then send resource=<uri> at the authorization, token and PAR endpoints; the access token',
        'gets aud=<uri> and only the granted scopes that the named resource servers accept (--scope; they must exist).',
        'A resource server checks the audience with oauth.token.validate {"audience": "<uri>"}.',
      ].join('\n'),
      examples: ['oauth-admin resource-servers create https://api.example.com/ --scope orders.read --scope orders.write'],
      options: { scope: { type: 'string', multiple: true }, ...jsonOption },
      positionals: { names: ['uri'], min: 1 },
      nats: 'optional',
      prepare({ values, positionals }, commandLine) {
        const uri = positionals[0]!;
        const scopes = stringList(values, 'scope');
        if (scopes.length === 0) throw new UsageError(`"${commandLine}" needs at least one --scope`);
        return async (ctx) => {
          const created = await (await admin()).createResourceServer(ctx.db, { uri, scopes });
          ctx.changed('resource_servers', 'oauth.resource_server.created', uri, { scope: created.scopes.join(' ') });
          if (flag(values, 'json')) printJson(ctx.io, { uri, scopes: created.scopes });
          else ctx.io.out(`Created resource server ${uri}`);
        };
      },
    },
    listCommand({
      summary: 'list resource servers', description: 'Lists every resource server with the scopes it accepts.', examples: ['oauth-admin resource-servers list --json'],
      load: async (db) => (await admin()).listResourceServers(db), json: serverJson, columns: ['uri', 'scopes'], row: (r) => [r.uri, r.scopes],
    }),
    showCommand({
      summary: 'show one resource server', description: 'Shows the resource server with exactly this URI.',
      examples: ['oauth-admin resource-servers show https://api.example.com/'], key: 'uri',
      load: async (db, uri) => (await admin()).showResourceServer(db, uri), json: serverJson,
      fields: (server) => [['uri', server.uri], ['scopes', server.scopes], ['created', server.createdAt]],
    }),
    deleteCommand({
      summary: 'delete a resource server',
      description: 'Deletes the resource server: from the announcement on, requests naming it get invalid_target and tokens for it alone are no longer accepted.',
      examples: ['oauth-admin resource-servers delete https://api.example.com/'],
      key: 'uri', noun: 'resource server', kind: 'resource_servers', event: 'oauth.resource_server.deleted',
      remove: async (db, uri) => (await admin()).deleteResourceServer(db, uri),
    }),
  ],
};
