// oauth-admin keys list|rotate
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { flag } from './cli-args.ts';
import { jsonOption, type CommandGroup } from './command.ts';
import { listCommand } from './record-commands.ts';
import { printJson } from './output.ts';
import type { KeyView } from './signing-key-admin.ts';

const iso = (date: Date | null) => (date ? date.toISOString() : null);
const keyJson = (k: KeyView) => ({
  kid: k.kid, state: k.state, alg: k.alg, created_at: iso(k.createdAt), activates_at: iso(k.activatesAt),
  superseded_at: iso(k.supersededAt), retire_at: iso(k.retireAt), status: k.status,
});

export const keysCommands: CommandGroup = {
  name: 'keys',
  summary: 'access-token signing keys (ES256; private parts encrypted under OAUTH_KEY_ENCRYPTION_KEY)',
  commands: [
    listCommand({
      summary: 'list signing keys and their state (next, active, retiring)',
      description: [
        'Lists the signing keys, newest first, each with its state: next (in JWKS, signs from its activation),',
        'active (signs new access tokens), retiring (superseded, still in JWKS until every token it signed has',
        'expired: see retires), retired (no longer published). token-service makes the next key by itself every',
        'SIGNING_KEY_ROTATION_SECONDS. With --json: an array of {kid, state, alg, created_at, activates_at,',
        'superseded_at, retire_at}. Private keys are never shown.',
      ].join('\n'),
      examples: ['oauth-admin keys list'],
      load: async (db) => (await import('./signing-key-admin.ts')).listSigningKeys(db, new Date()),
      json: keyJson, columns: ['kid', 'state', 'created', 'activates', 'retires'], row: (k) => [k.kid, k.state, k.createdAt, k.activatesAt, k.retireAt],
    }),
    {
      name: 'rotate',
      summary: 'make a new signing key; the old one stays published until its tokens expire',
      usage: '[--json]',
      description: [
        'Generates a new ES256 key that signs every access token from now on. The previous key stays in JWKS',
        '(validation keeps accepting its tokens) until the longest access-token lifetime of any client plus a',
        'margin has passed, then it is retired. Services switch on the announcement, or at their next reload.',
        'A next key made by the schedule and not yet signing is superseded too; the schedule counts from this key.',
        'The private key is encrypted under OAUTH_KEY_ENCRYPTION_KEY: run this with the same value the services use.',
      ].join('\n'),
      examples: ['OAUTH_KEY_ENCRYPTION_KEY=... oauth-admin keys rotate'],
      options: { ...jsonOption },
      positionals: { names: [], min: 0 },
      nats: 'optional',
      usesKeyEncryptionKey: true,
      prepare: ({ values }) => async (ctx) => {
        const [{ rotateKeys }, { warningLogger }] = await Promise.all([import('./signing-key-admin.ts'), import('./cli-context.ts')]);
        const kek = keyEncryptionKey(ctx.config, warningLogger(ctx.io));
        const rotation = await rotateKeys(ctx.db, kek, new Date());
        const type = rotation.superseded.length > 0 ? 'oauth.key.rotated' : 'oauth.key.created';
        ctx.changed('keys', type, rotation.kid, { kid: rotation.kid, count: rotation.superseded.length });
        if (flag(values, 'json')) {
          const retireAt = rotation.superseded.length > 0 ? rotation.retireAt.toISOString() : null;
          printJson(ctx.io, { kid: rotation.kid, superseded: rotation.superseded, retire_at: retireAt });
        } else if (rotation.superseded.length > 0) {
          ctx.io.out(`New signing key ${rotation.kid}\nSuperseded ${rotation.superseded.join(', ')}: still published until ${rotation.retireAt.toISOString()}, then retired`);
        } else {
          ctx.io.out(`New signing key ${rotation.kid} (there was no key before)`);
        }
      },
    },
  ],
};
