// "Your authorizations": every client the signed-in owner granted access to, with its name and
// the scopes granted, newest first.
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ScopeDoc } from '#shared/reference-data/scopes.ts';
import type { ConsentUiStore } from './store.ts';

export type Deps = {
  store: Pick<ConsentUiStore, 'listConsents'>;
  findClient(id: string): Promise<ClientDoc | undefined>;
  scope(name: string): ScopeDoc | undefined;
};

export type AuthorizationSummary = {
  clientId: string;
  /** Undefined when the client has been deleted since. */
  clientName: string | undefined;
  scopes: { name: string; description: string }[];
  remembered: boolean;
  updatedAt: Date;
};

export async function listAuthorizations(deps: Deps, sub: string): Promise<AuthorizationSummary[]> {
  const consents = await deps.store.listConsents(sub);
  return Promise.all(consents.map(async (consent) => {
    const client = await deps.findClient(consent.clientId);
    const names = [...new Set([...(consent.grantedScopes ?? []), ...consent.scopes])];
    return {
      clientId: consent.clientId,
      clientName: client?.name,
      scopes: names.map((name) => ({ name, description: deps.scope(name)?.description ?? name })),
      remembered: consent.scopes.length > 0,
      updatedAt: consent.updatedAt,
    };
  }));
}
