// Reference data (clients, scopes, resources, users) held in memory: loaded at start, reloaded
// when the admin CLI announces a change, and every `refreshMs` as a safety net. Hot paths read
// maps, never the database.
import type { Db } from 'mongodb';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from '#shared/logger.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { checker } from '#shared/contracts/checker.ts';
import { ReferenceDataChangedSchema, type ReferenceDataKind } from '#shared/contracts/reference-data-changed.ts';
import { clientsCollection, type ClientDoc } from './clients.ts';
import { scopesCollection, type ScopeDoc } from './scopes.ts';
import { resourcesCollection, ruleFor, type ResourceDoc } from './resources.ts';
import { usersCollection, type UserDoc } from './users.ts';
import { coalesced } from '#shared/coalesced.ts';
import { resourceServersCollection, type ResourceServerDoc } from './resource-servers.ts';

export type CachedUser = Omit<UserDoc, 'passwordHash'>;

export type ReferenceData = {
  client(id: string): ClientDoc | undefined;
  scope(name: string): ScopeDoc | undefined;
  user(sub: string): CachedUser | undefined;
  resources(): readonly ResourceDoc[];
};

const changed = checker(ReferenceDataChangedSchema);

export class ReferenceCache implements ReferenceData {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #kinds: ReadonlySet<ReferenceDataKind>;
  #clients = new Map<string, ClientDoc>();
  #scopes = new Map<string, ScopeDoc>();
  #users = new Map<string, CachedUser>();
  /** Derived from #users when sign-in first asks (consent-ui alone does), dropped with each load. */
  #subsByUsername: Map<string, string> | undefined;
  /** Per kind, the load that the latest announcement started, settled (never rejected). */
  readonly #announcedLoads = new Map<ReferenceDataKind, Promise<void>>();
  #resources: ResourceDoc[] = [];
  #resourcesLoadedAt = 0;
  #resourceServers = new Map<string, ResourceServerDoc>();
  #subscription: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Reloads on announcements and timers, one at a time per kind (a flood of announcements costs two loads). */
  readonly #reloadSoon: Map<ReferenceDataKind, () => Promise<void>>;

  constructor(db: Db, log: Logger, kinds: ReferenceDataKind[]) {
    this.#db = db;
    this.#log = log;
    this.#kinds = new Set(kinds);
    this.#reloadSoon = new Map([...this.#kinds, 'resources' as const].map((kind) => [kind, coalesced(() => this.reload(kind))]));
  }

  /** Subscribes first, then loads, so a change announced during the load is not missed. */
  async start(nc: NatsConnection, refreshMs = 30_000): Promise<void> {
    this.#subscription = nc.subscribe(Subjects.referenceDataChanged, {
      callback: (_error, msg) => {
        const event = changed.parse(parseJson(msg.data));
        if (event && this.#kinds.has(event.kind)) this.#announced(event.kind);
      },
    });
    await Promise.all([...this.#kinds].map((kind) => this.reload(kind, true)));
    this.#timer = setInterval(() => [...this.#kinds].forEach((kind) => void this.#reloadSoon.get(kind)!()), refreshMs);
    this.#timer.unref();
  }

  #announced(kind: ReferenceDataKind): void {
    this.#announcedLoads.set(kind, this.#reloadSoon.get(kind)!().then(() => {}, () => {}));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#subscription?.unsubscribe();
  }

  async reload(kind: ReferenceDataKind, throwOnError = false): Promise<void> {
    try {
      switch (kind) {
        case 'clients':
          this.#clients = new Map((await clientsCollection(this.#db).find().toArray()).map((c) => [c._id, c]));
          break;
        case 'scopes':
          this.#scopes = new Map((await scopesCollection(this.#db).find().toArray()).map((s) => [s._id, s]));
          break;
        case 'resources':
          this.#resourcesLoadedAt = Date.now();
          this.#resources = await resourcesCollection(this.#db).find().toArray();
          break;
        case 'users': {
          this.#users = new Map((await usersCollection(this.#db).find({}, { projection: { passwordHash: 0 } }).toArray()).map((u) => [u._id, u]));
          this.#subsByUsername = undefined;
          break;
        }
        case 'resource_servers':
          this.#resourceServers = new Map((await resourceServersCollection(this.#db).find().toArray()).map((r) => [r._id, r]));
          break;
        case 'keys':
          break;
      }
    } catch (error) {
      if (throwOnError) throw error;
      this.#log.warn({ err: error, kind }, 'reference data reload failed; keeping the cached copy');
    }
  }

  client(id: string) { return this.#clients.get(id); }
  scope(name: string) { return this.#scopes.get(name); }
  user(sub: string) { return this.#users.get(sub); }
  resources() { return this.#resources; }
  scopeNames() { return [...this.#scopes.keys()].sort(); }

  /**
   * A scope, or on a miss the same once the load the latest `scopes` announcement started has ended:
   * one created a moment ago is found, and an unknown name costs no database read of its own.
   */
  findScope(name: string): Promise<ScopeDoc | undefined> {
    return this.#afterAnnouncedLoad('scopes', () => this.#scopes.get(name));
  }

  /** A registered resource server (RFC 8707) by its exact URI, as findScope finds a scope. */
  findResourceServer(uri: string): Promise<ResourceServerDoc | undefined> {
    return this.#afterAnnouncedLoad('resource_servers', () => this.#resourceServers.get(uri));
  }

  /** `lookup`, or on a miss `lookup` again (a load replaces the maps) once `kind`'s announced load has ended. */
  async #afterAnnouncedLoad<T>(kind: ReferenceDataKind, lookup: () => T | undefined): Promise<T | undefined> {
    return lookup() ?? (await this.#announcedLoads.get(kind), lookup());
  }

  /** A client from the cache, or from the database when it was created since the last load. */
  async findClient(id: string): Promise<ClientDoc | undefined> {
    const cached = this.#clients.get(id);
    if (cached) return cached;
    const found = await clientsCollection(this.#db).findOne({ _id: id });
    if (found) this.#clients.set(id, found);
    return found ?? undefined;
  }

  /**
   * The sub of a username, once the load of users that the admin CLI's latest announcement started
   * has ended, so that a user just created is found. Every lookup waits alike, known name or not;
   * the periodic reloads (which take long with many users on FerretDB) hold no one up.
   */
  async subOfUsername(username: string): Promise<string | undefined> {
    await this.#announcedLoads.get('users');
    this.#subsByUsername ??= new Map([...this.#users.values()].map((u) => [u.username, u._id]));
    return this.#subsByUsername.get(username);
  }

  async findUser(sub: string): Promise<CachedUser | undefined> {
    const cached = this.#users.get(sub);
    if (cached) return cached;
    const found = await usersCollection(this.#db).findOne({ _id: sub }, { projection: { passwordHash: 0 } });
    if (found) this.#users.set(sub, found);
    return found ?? undefined;
  }

  /**
   * The rule covering `resource`. When none is cached, the rules are reloaded at most once a second
   * before answering "none", so a rule created a moment ago is honoured without a database read per call.
   */
  async findResourceRule(resource: string): Promise<ResourceDoc | undefined> {
    const rule = ruleFor(this.#resources, resource);
    if (rule || Date.now() - this.#resourcesLoadedAt < 1000) return rule;
    await this.#reloadSoon.get('resources')!();
    return ruleFor(this.#resources, resource);
  }
}

/** Tells every service instance that reference data of `kind` changed (sent by the admin CLI). */
export function announceReferenceDataChange(nc: NatsConnection, kind: ReferenceDataKind): void {
  nc.publish(Subjects.referenceDataChanged, JSON.stringify({ kind }));
}

/** Calls `onChange` on every announcement that reference data of `kind` changed; returns the unsubscribe. */
export function onReferenceDataChanged(nc: NatsConnection, kind: ReferenceDataKind, onChange: () => void): () => void {
  const subscription = nc.subscribe(Subjects.referenceDataChanged, {
    callback: (_error, msg) => {
      if (changed.parse(parseJson(msg.data))?.kind === kind) onChange();
    },
  });
  return () => subscription.unsubscribe();
}
