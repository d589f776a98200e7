// Storage that stops growing: after many flows of every kind, everything that expires is removed
// once it has expired, and every collection is back at its baseline.
//
// How time passes here. The lifetimes under test are hours to a month (a refresh token family
// lives 30 days, a failed client authentication is remembered a day, a revoked family is dead a day
// after its revocation) and production minimums must not be lowered for a test. So the flows are
// run for real, through the real services, and then the stored records are aged: every instant
// stored in the swept collections (createdAt, expiresAt, revokedAt, ...) is moved back by the same
// amount, which is what the database would hold had the flows happened that long ago. The services
// are not touched: their sweeps (SWEEP_INTERVAL_SECONDS=1 here) run on their real clock, and decide
// from the stored instants alone. Two steps: two days later every short-lived record is gone and
// only live refresh token families (and the claims that guard them) are left; 31 days later, past
// the 30-day family lifetime, every collection is back at its baseline.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyBulkWriteOperation, Document } from 'mongodb';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { authorizeUrl, codeViaNats, exchangeCode, pkcePair, tokenRequest } from './helpers/oauth.ts';
import { refreshRequest, revokeRequest } from './helpers/token-requests.ts';
import { Browser } from './helpers/browser.ts';

const DAY_MS = 86_400_000;

/** The collections whose records expire, by owner. */
const SWEPT = [
  'authorization_decisions', // authorize-service (requests and codes are sealed, not stored)
  'refresh_token_families', 'grant_claims', 'revocations', 'client_auth_failures', // token-service
  'sessions', 'login_failures', 'login_locks', // consent-ui
  'audit_outbox', // every service
] as const;
/** Records that do not expire: reference data, signing keys, and one consent per owner and client. */
const KEPT = ['clients', 'users', 'scopes', 'signing_keys', 'consents'] as const;

let system: System;
let client: SeededClient;
let user: SeededUser;
let signers: SeededUser[];

before(async () => {
  system = await startSystem('soak', { env: { SWEEP_INTERVAL_SECONDS: '1' } });
  const scope = await system.seed.scope('orders');
  client = await system.seed.client({ scopes: [scope], refreshTokens: true });
  user = await system.seed.user();
  signers = [await system.seed.user(), await system.seed.user(), await system.seed.user()];
});
after(() => system?.stop());

async function counts(): Promise<Record<string, number>> {
  const entries = await Promise.all([...SWEPT, ...KEPT].map(async (name) => [name, await system.db.collection(name).countDocuments()] as const));
  return Object.fromEntries(entries);
}

/** Moves every instant stored in the swept collections back by `ms`: as if all of it had happened that long ago. */
async function age(ms: number): Promise<number> {
  let moved = 0;
  for (const name of SWEPT) {
    const collection = system.db.collection(name);
    const docs = await collection.find().toArray();
    const operations: AnyBulkWriteOperation<Document>[] = [];
    for (const doc of docs) {
      const shifted: Record<string, Date> = {};
      for (const [field, value] of Object.entries(doc)) if (value instanceof Date) shifted[field] = new Date(value.getTime() - ms);
      if (Object.keys(shifted).length > 0) operations.push({ updateOne: { filter: { _id: doc._id }, update: { $set: shifted } } });
    }
    // In batches: FerretDB 1.24 (SQLite) never answers an update of 100 statements or more.
    for (let i = 0; i < operations.length; i += 50) {
      moved += (await collection.bulkWrite(operations.slice(i, i + 50), { ordered: false })).modifiedCount;
    }
  }
  return moved;
}

/** Waits until `expected` holds for the counts (the sweeps run every second); returns the last counts. */
async function settle(expected: (c: Record<string, number>) => string[] | Promise<string[]>, timeoutMs = 20_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await counts();
    const wrong = await expected(now);
    if (wrong.length === 0) return now;
    if (Date.now() > deadline) assert.fail(`not swept within ${timeoutMs} ms: ${wrong.join('; ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs `tasks` with at most `width` at once. */
async function pool(tasks: (() => Promise<unknown>)[], width = 6): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < tasks.length) await tasks[next++]!();
  }));
}

const ok = (res: { status: number; body: Record<string, unknown> }, what: string) => {
  assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
  return res.body;
};

async function exchanged() {
  const { code, verifier } = await codeViaNats(system, client, user);
  return { code, verifier, tokens: ok(await exchangeCode(system, client, code, verifier), 'exchange') };
}

describe('storage that stops growing', () => {
  it('removes every expired record, and dead refresh token families, after many flows of every kind', async () => {
    const baseline = await counts();
    const wrongSecret = { ...client, clientSecret: 'not-the-secret' };
    const tasks: (() => Promise<unknown>)[] = [
      // Completed grants, some refreshed twice: live families.
      ...Array.from({ length: 60 }, (_, i) => async () => {
        const { tokens } = await exchanged();
        if (i % 3 === 0) {
          const once = ok(await refreshRequest(system, client, tokens.refresh_token as string), 'refresh');
          ok(await refreshRequest(system, client, once.refresh_token as string), 'refresh again');
        }
      }),
      // Grants ended by the client: revoked families and grant revocations.
      ...Array.from({ length: 15 }, () => async () => {
        const { tokens } = await exchanged();
        assert.equal((await revokeRequest(system, client, tokens.refresh_token as string)).status, 200);
      }),
      // Access tokens revoked by jti (their families stay live).
      ...Array.from({ length: 15 }, () => async () => {
        const { tokens } = await exchanged();
        assert.equal((await revokeRequest(system, client, tokens.access_token as string)).status, 200);
      }),
      // Replayed codes: the grant is revoked.
      ...Array.from({ length: 10 }, () => async () => {
        const { code, verifier } = await exchanged();
        assert.equal((await exchangeCode(system, client, code, verifier)).status, 400);
      }),
      // Reused refresh tokens: the family is revoked.
      ...Array.from({ length: 10 }, () => async () => {
        const { tokens } = await exchanged();
        ok(await refreshRequest(system, client, tokens.refresh_token as string), 'refresh');
        assert.equal((await refreshRequest(system, client, tokens.refresh_token as string)).status, 400);
      }),
      // Authorization requests never answered, answered with a denial, and codes never redeemed.
      ...Array.from({ length: 15 }, (_, i) => async () => {
        const res = await fetch(authorizeUrl(system, {
          response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scopes.join(' '), state: `a${i}`,
          code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
        }), { redirect: 'manual' });
        assert.equal(res.status, 302);
      }),
      ...Array.from({ length: 10 }, () => async () => codeViaNats(system, client, user, { decision: 'deny' })),
      ...Array.from({ length: 10 }, () => async () => codeViaNats(system, client, user)),
      // Sign-ins (sessions; one signs out again), failed sign-ins up to a lock, failed client authentications up to a lock.
      ...signers.map((signer, i) => async () => {
        const browser = new Browser([system.urls.consentUi]);
        const page = await browser.get(`${system.urls.consentUi}/ui/`);
        const signedIn = await browser.form(page, 'Sign in').fill('Username', signer.username).fill('Password', signer.password).submit('Sign in');
        assert.equal(signedIn.status, 303);
        if (i === 0) {
          const home = await browser.navigate(`${system.urls.consentUi}/ui/authorizations`);
          assert.equal((await browser.form(home, 'Sign out').submit('Sign out')).status, 303);
        }
      }),
      async () => {
        for (let i = 0; i < 11; i++) {
          const browser = new Browser([system.urls.consentUi]);
          const page = await browser.get(`${system.urls.consentUi}/ui/`);
          const res = await browser.form(page, 'Sign in').fill('Username', user.username).fill('Password', 'wrong password').submit('Sign in');
          assert.equal(res.status, 200);
        }
      },
      async () => {
        for (let i = 0; i < 11; i++) {
          const res = await tokenRequest(system, { grant_type: 'refresh_token', refresh_token: 'x.y' }, { clientId: wrongSecret.clientId, clientSecret: wrongSecret.clientSecret });
          assert.equal(res.status, 401);
        }
      },
    ];
    await pool(tasks);
    const flows = tasks.length - 2 + 22;

    // Everything the flows wrote is there, nothing is in the outbox, and nothing has expired yet.
    const afterFlows = await counts();
    for (const name of SWEPT.filter((n) => n !== 'audit_outbox')) assert.ok(afterFlows[name]! > baseline[name]!, `${name} grew with the flows`);
    assert.equal(await system.db.collection('unrecorded_revocations').countDocuments(), 0, 'every grant revocation decided was recorded, and its note cleared');
    const liveFamilies = await system.db.collection('refresh_token_families').countDocuments({ revokedAt: null });
    const deadFamilies = afterFlows.refresh_token_families! - liveFamilies;
    assert.ok(liveFamilies >= 60 && deadFamilies >= 35, `${liveFamilies} live, ${deadFamilies} revoked families`);

    // Two days later: every short-lived record is gone, and so is every revoked family; live
    // families (30 days) and the claims guarding them stay, and nothing left has expired.
    await age(2 * DAY_MS);
    // Grant revocations of revoked families stay as long as the families' sealed refresh tokens could be presented.
    const shortLived = SWEPT.filter((n) => n !== 'refresh_token_families' && n !== 'grant_claims' && n !== 'revocations');
    // token-service sweeps families, claims and revocations in parallel: wait for every expired record, not only the families.
    const expiredLeft = async () => {
      const left = await Promise.all(SWEPT.map(async (n) => ({ n, count: await system.db.collection(n).countDocuments({ expiresAt: { $lte: new Date() } }) })));
      return left.filter(({ count }) => count > 0).map(({ n, count }) => `${count} expired in ${n}`);
    };
    const twoDaysLater = await settle(async (c) => [
      ...shortLived.filter((n) => c[n] !== baseline[n]).map((n) => `${n} ${c[n]} (baseline ${baseline[n]})`),
      ...(c.refresh_token_families === baseline.refresh_token_families! + liveFamilies ? [] : [`refresh_token_families ${c.refresh_token_families}, ${liveFamilies} live`]),
      ...(await expiredLeft()),
    ]);
    const now = new Date();
    for (const name of SWEPT) {
      assert.equal(await system.db.collection(name).countDocuments({ expiresAt: { $lte: now } }), 0, `nothing expired is left in ${name}`);
    }
    assert.equal(await system.db.collection('refresh_token_families').countDocuments({ revokedAt: { $ne: null } }), 0, 'no dead family left');

    // 31 days later, past every family's lifetime: every collection is back at its baseline.
    await age(29 * DAY_MS);
    const monthLater = await settle((c) => SWEPT.filter((n) => c[n] !== baseline[n]).map((n) => `${n} ${c[n]} (baseline ${baseline[n]})`));
    for (const name of KEPT.filter((n) => n !== 'consents')) assert.equal(monthLater[name], afterFlows[name], `${name} unchanged`);
    // Consents do not expire: one per owner and client, however many flows ran.
    assert.ok(monthLater.consents! <= baseline.consents! + 1 + signers.length);

    const table = [...SWEPT, ...KEPT].map((n) => `#   ${n.padEnd(24)} ${String(baseline[n]).padStart(8)} ${String(afterFlows[n]).padStart(11)} ${String(twoDaysLater[n]).padStart(14)} ${String(monthLater[n]).padStart(15)}`);
    process.stdout.write([
      `# soak: ${flows} flows; document counts per collection`,
      `#   ${'collection'.padEnd(24)} ${'baseline'.padStart(8)} ${'after flows'.padStart(11)} ${'2 days later'.padStart(14)} ${'31 days later'.padStart(15)}`,
      ...table, '',
    ].join('\n'));
  });
});
