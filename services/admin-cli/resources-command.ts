// oauth-admin resources create|list|show|delete
import { flag, stringList, UsageError } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { deleteCommand, listCommand, showCommand } from './record-commands.ts';
import { printJson } from './output.ts';
import { listResources, showResource, type ResourceView } from './reference-data-inspect.ts';
import { deleteResource } from './reference-data-delete.ts';

const resourceJson = (r: ResourceView) => ({ pattern: r.pattern, scopes: r.scopes, groups: r.groups, created_at: r.createdAt.toISOString() });

export const resourcesCommands: CommandGroup = {
  name: 'resources',
  summary: 'resource rules: which scopes and groups admit a token to a resource (oauth.token.validate)',
  commands: [
    {
      name: 'create',
      summary: 'create a resource rule',
      usage: '<pattern> --scope <s>... [--group <g>]... [--json]',
      description: [
        'Creates a resource rule. The pattern is an exact resource name, or a prefix ending in one trailing *.',
        'A token is allowed on a covered resource when it was granted one of the --scope values and, when',
        '--group is given, its resource owner is in one of the groups. The most specific rule wins.',
      ].join('\n'),
      examples: [
        'oauth-admin resources create "https://api.example.com/photos/*" --scope photos.read',
        'oauth-admin resources create /admin --scope admin --group staff --group ops',
      ],
      options: { scope: { type: 'string', multiple: true }, group: { type: 'string', multiple: true }, ...jsonOption },
      positionals: { names: ['pattern'], min: 1 },
      nats: 'optional',
      prepare({ values, positionals }, commandLine) {
        const pattern = positionals[0]!;
        const scopes = stringList(values, 'scope');
        if (scopes.length === 0) throw new UsageError(`"${commandLine}" needs at least one --scope`);
        const groups = stringList(values, 'group');
        return async (ctx) => {
          const { createResource } = await import('./reference-data-admin.ts');
          await createResource(ctx.db, { pattern, scopes, groups });
          ctx.changed('resources', 'oauth.resource.created', pattern, { scope: [...new Set(scopes)].join(' ') });
          if (flag(values, 'json')) printJson(ctx.io, { pattern, scopes: [...new Set(scopes)], groups: [...new Set(groups)] });
          else ctx.io.out(`Created resource rule ${pattern}`);
        };
      },
    },
    listCommand({
      summary: 'list resource rules', description: 'Lists every resource rule.', examples: ['oauth-admin resources list'],
      load: listResources, json: resourceJson, columns: ['pattern', 'scopes', 'groups'], row: (r) => [r.pattern, r.scopes, r.groups],
    }),
    showCommand({
      summary: 'show one resource rule', description: 'Shows the resource rule with exactly this pattern.',
      examples: ['oauth-admin resources show "https://api.example.com/photos/*"'], key: 'pattern', load: showResource, json: resourceJson,
      fields: (rule) => [['pattern', rule.pattern], ['scopes', rule.scopes], ['groups', rule.groups], ['created', rule.createdAt]],
    }),
    deleteCommand({
      summary: 'delete a resource rule',
      description: 'Deletes the resource rule with exactly this pattern; validation-service stops applying it on the announcement.',
      examples: ['oauth-admin resources delete "https://api.example.com/photos/*"'],
      key: 'pattern', noun: 'resource rule', kind: 'resources', event: 'oauth.resource.deleted', remove: deleteResource,
    }),
  ],
};
