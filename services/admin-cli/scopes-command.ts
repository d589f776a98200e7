// oauth-admin scopes create|list|show|delete
// (Modules that load the database driver or argon2 are imported when a command runs, so --help and
// usage mistakes answer without loading them; the same holds in every *-command.ts.)
import { flag, requiredString } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { deleteCommand, listCommand, showCommand } from './record-commands.ts';
import { printJson } from './output.ts';
import { listScopes, showScope, type ScopeView } from './reference-data-inspect.ts';
import { deleteScope } from './reference-data-delete.ts';

const scopeJson = (s: ScopeView) => ({ name: s.name, description: s.description, created_at: s.createdAt.toISOString() });

export const scopesCommands: CommandGroup = {
  name: 'scopes',
  summary: 'scopes clients may ask for (each with the description the consent page shows)',
  commands: [
    {
      name: 'create',
      summary: 'create a scope',
      usage: '<name> --description <text> [--json]',
      description: 'Creates a scope. The name is an RFC 6749 scope token (printable ASCII, no spaces, quotes or backslashes); the description is what the consent page shows the resource owner.',
      examples: ['oauth-admin scopes create photos.read --description "See your photos"'],
      options: { description: { type: 'string' }, ...jsonOption },
      positionals: { names: ['name'], min: 1 },
      nats: 'optional',
      prepare({ values, positionals }, commandLine) {
        const name = positionals[0]!;
        const description = requiredString(values, 'description', commandLine);
        return async (ctx) => {
          const { createScope } = await import('./reference-data-admin.ts');
          await createScope(ctx.db, name, description);
          ctx.changed('scopes', 'oauth.scope.created', name, { scope: name });
          if (flag(values, 'json')) printJson(ctx.io, { name });
          else ctx.io.out(`Created scope ${name}`);
        };
      },
    },
    listCommand({
      summary: 'list scopes', description: 'Lists every scope with its description.', examples: ['oauth-admin scopes list', 'oauth-admin scopes list --json'],
      load: listScopes, json: scopeJson, columns: ['name', 'description'], row: (s) => [s.name, s.description],
    }),
    showCommand({
      summary: 'show one scope and what uses it', description: 'Shows a scope, and the clients and resource rules that name it.',
      examples: ['oauth-admin scopes show photos.read'], key: 'name', load: showScope,
      json: (scope) => ({
        ...scopeJson(scope), used_by: { clients: scope.usedBy.clients, resources: scope.usedBy.resources, resource_servers: scope.usedBy.resourceServers },
      }),
      fields: (scope) => [
        ['name', scope.name], ['description', scope.description], ['created', scope.createdAt],
        ['clients', scope.usedBy.clients], ['resources', scope.usedBy.resources], ['resource servers', scope.usedBy.resourceServers],
      ],
    }),
    deleteCommand({
      summary: 'delete a scope no client, resource rule or resource server uses',
      description: 'Deletes a scope. Refused while a client, a resource rule or a resource server still names it (see "scopes show").',
      examples: ['oauth-admin scopes delete photos.read'],
      key: 'name', noun: 'scope', kind: 'scopes', event: 'oauth.scope.deleted', remove: deleteScope, data: (name) => ({ scope: name }),
    }),
  ],
};
