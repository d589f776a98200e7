// The reference cache against the real database and NATS: what the admin CLI creates and announces
// is found by the next lookup, even while the load the announcement started is still running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from 'mongodb';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomToken } from '#shared/crypto.ts';
import { createLogger } from '#shared/logger.ts';
import { announceReferenceDataChange, ReferenceCache } from './reference-cache.ts';
import { scopesCollection } from './scopes.ts';
import { resourceServersCollection } from './resource-servers.ts';
import { suiteConnections, type SuiteConnections } from '#shared/testing/suite-servers.ts';

describe('ReferenceCache', () => {
  let suite: SuiteConnections;
  let db: Db;
  let nc: NatsConnection;
  let cache: ReferenceCache;

  before(async () => {
    suite = await suiteConnections('referencecache');
    ({ db, nc } = suite);
    cache = new ReferenceCache(db, createLogger('reference-cache-test', 'silent'), ['scopes', 'resource_servers']);
    await cache.start(nc);
  });
  after(async () => {
    cache?.stop();
    await suite?.close();
  });

  it('finds a scope and a resource server created and announced just now (an authorization right after `create`)', async () => {
    const scope = `new.${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
    const uri = `https://rs-${randomToken(4).replace(/[^a-z0-9]/gi, 'x').toLowerCase()}.example.com/`;
    await scopesCollection(db).insertOne({ _id: scope, description: 'New', createdAt: new Date() });
    await resourceServersCollection(db).insertOne({ _id: uri, scopes: [scope], createdAt: new Date() });
    // As the admin CLI does; after the flush this connection has received its own announcements,
    // and the loads they started are (almost always) still under way.
    announceReferenceDataChange(nc, 'scopes');
    announceReferenceDataChange(nc, 'resource_servers');
    await nc.flush();
    assert.equal((await cache.findScope(scope))?._id, scope);
    assert.deepEqual((await cache.findResourceServer(uri))?.scopes, [scope]);
  });
});
