// Builds the redirect back to the client (RFC 6749 §4.1.2 / §4.1.2.1, RFC 9207 `iss`). The
// registered URI's own query is kept as it is (§3.1.2) and the response parameters appended.
export function authorizationResponseUrl(redirectUri: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.append(name, value);
  return `${redirectUri}${redirectUri.includes('?') ? '&' : '?'}${query.toString()}`;
}
