// Content Security Policy of the pages. Nothing loads from anywhere (default-src 'none'); the one
// inline stylesheet is allowed by its hash; pages cannot be framed (frame-ancestors 'none').
//
// form-action: Chrome and Safari apply it to every redirect that follows a form submission, not
// only to the form's own action (Firefox does not; w3c/webappsec-csp#8). Signing in can end in a redirect to the client
// (a remembered consent approves at once), and Allow/Deny answers with a 303 to the client's
// redirect URI (RFC 9700 §4.12). So the sign-in and consent pages of a request allow 'self' plus
// the origins of that client's registered redirect URIs; every other page allows 'self' only.
import { createHash } from 'node:crypto';

export function styleHash(css: string): string {
  return `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;
}

export function contentSecurityPolicy(styleSource: string, formActionSources: readonly string[] = []): string {
  return [
    "default-src 'none'",
    `style-src ${styleSource}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    `form-action ${["'self'", ...formActionSources].join(' ')}`,
  ].join('; ');
}

const SCHEME = /^[a-z][a-z0-9+.-]*:$/;
const HOST_SOURCE = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/;

/**
 * CSP sources that cover the given redirect URIs: the origin of http(s) URIs, the scheme of
 * private-use URIs (RFC 8252 §7.1: com.example.app:/callback). An IPv6 literal cannot be written
 * as a CSP host-source, so it is covered by its scheme alone (loopback native apps only).
 */
export function formActionSources(redirectUris: readonly string[]): string[] {
  const sources = new Set<string>();
  for (const uri of redirectUris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      continue;
    }
    const scheme = url.protocol.toLowerCase();
    if (!SCHEME.test(scheme)) continue;
    if (scheme === 'http:' || scheme === 'https:') sources.add(HOST_SOURCE.test(url.origin) ? url.origin : scheme);
    else sources.add(scheme);
  }
  return [...sources];
}
