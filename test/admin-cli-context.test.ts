// The CLI's context against a real nats-server and the real database: a change's audit event is
// on its way the moment the change is recorded, since the CLI may exit at once after it (a reader
// of its output that goes away ends the run, services/admin-cli/output.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommonConfigSchema, parseConfig } from '#shared/config.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { uniqueMongoUri } from './helpers/system.ts';
import { openContext, type CliContext } from '../services/admin-cli/cli-context.ts';

let nats: PrivateNats;
let ctx: CliContext;

before(async () => {
  nats = await startPrivateNats();
  const config = parseConfig(CommonConfigSchema, { NODE_ENV: 'test', NATS_URL: nats.url, MONGODB_URI: uniqueMongoUri('clictx') });
  ctx = await openContext(config, { out: () => {}, warn: () => {} }, 'optional');
});
after(async () => {
  await ctx?.db.dropDatabase().catch(() => undefined);
  await ctx?.close();
  await nats?.stop();
});

describe('openContext', () => {
  it('sends a change\'s audit event at once, not at the end of the turn', () => {
    const sent = ctx.nc!.stats().outMsgs;
    ctx.changed(undefined, 'oauth.scope.created', 'cli.context', { scope: 'cli.context' });
    assert.equal(ctx.nc!.stats().outMsgs, sent + 1);
  });
});
