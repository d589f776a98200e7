// RFC 8707 at the token endpoint: which resource servers an access token is for, and the scopes
// it may carry there. A token request may narrow the resources the authorization named, never
// widen them (§2.2); without `resource`, the token is for every resource the authorization named.
// An authorization that named none is not restricted to any: the token request may then name any
// registered resource server (§2.2: resources may be asked for at the token endpoint only).
import {
  invalidTarget, resolveResources, scopesAccepted, type ResourceServerDoc,
} from '#shared/reference-data/resource-servers.ts';

export type ResourceDeps = {
  /**
   * A registered resource server (ReferenceCache.findResourceServer: one created and announced a
   * moment ago is found too); without it every resource is unregistered.
   */
  findResourceServer?(uri: string): Promise<ResourceServerDoc | undefined>;
};

/** The token's audience (undefined: the default audience, as before resource indicators) and its scopes. */
export type TokenTarget = { audience: string[] | undefined; scopes: string[] };

export async function selectResources(
  deps: ResourceDeps, sent: string[] | undefined, authorized: string[] | undefined, scopes: string[],
): Promise<TokenTarget> {
  // The usual refresh and code exchange: no resource named anywhere, nothing to look up or wait for.
  if (sent === undefined && authorized === undefined) return { audience: undefined, scopes };
  // Without the registry every resource is unregistered.
  const find = (uri: string) => deps.findResourceServer?.(uri);
  const requested = await resolveResources(sent, find);
  if (requested && authorized && requested.some((server) => !authorized.includes(server._id))) {
    throw invalidTarget('resource beyond the authorization');
  }
  // A resource server deleted since the authorization is no longer one a token can be for.
  const servers = requested ?? (await resolveResources(authorized, find));
  if (!servers) return { audience: undefined, scopes };
  const accepted = scopesAccepted(scopes, servers);
  if (accepted.length === 0) throw invalidTarget('the resources accept none of the granted scopes');
  return { audience: servers.map((server) => server._id), scopes: accepted };
}
