// DPoP at the token endpoint (RFC 9449 §5): a token request may carry one `DPoP` proof, made for
// POST to the token endpoint as the metadata publishes it; with a valid one the tokens issued are
// bound to its key. A client registered with --require-dpop must send one with every token request.
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { verifyDpopProof, type DpopProofDeps } from '#shared/dpop/verify-dpop-proof.ts';

export type Deps = DpopProofDeps & {
  /** The token endpoint URL as the issuer's metadata publishes it (what `htu` must name). */
  tokenEndpointUrl: string;
};

export type TokenRequestProofInput = {
  client: ClientDoc;
  /** The DPoP request header: undefined when absent; a repeated header arrives joined (and never verifies). */
  proof: string | undefined;
};

const invalidProof = (detail: string) => new OAuthError('invalid_dpop_proof', 'The DPoP proof is missing, invalid, or already used.', detail);

/** The thumbprint of the key to bind the tokens to, or undefined for a request without a proof (bearer tokens). */
export async function checkTokenRequestProof(deps: Deps, input: TokenRequestProofInput): Promise<string | undefined> {
  if (input.proof === undefined) {
    // invalid_dpop_proof rather than invalid_request: the client knows exactly what to fix (send a
    // proof), as RFC 9449 §5 asks for any DPoP failure at the token endpoint.
    if (input.client.requireDpop) throw invalidProof('the client must use DPoP and sent no proof');
    return undefined;
  }
  const check = await verifyDpopProof(deps, { proof: input.proof, method: 'POST', url: deps.tokenEndpointUrl });
  if (!check.valid) throw invalidProof(check.reason);
  return check.jkt;
}
