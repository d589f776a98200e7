import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { contentSecurityPolicy, formActionSources, styleHash } from './page-security.ts';

describe('contentSecurityPolicy', () => {
  it('allows nothing but the hashed stylesheet and forms to self, and forbids framing', () => {
    assert.equal(
      contentSecurityPolicy("'sha256-abc'"),
      "default-src 'none'; style-src 'sha256-abc'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });

  it('adds the given form-action sources after self', () => {
    assert.match(contentSecurityPolicy("'sha256-abc'", ['https://app.example.com', 'com.example.app:']), /form-action 'self' https:\/\/app\.example\.com com\.example\.app:$/);
  });
});

describe('styleHash', () => {
  it('is the base64 SHA-256 of the stylesheet as CSP writes it', () => {
    assert.equal(styleHash('body{}'), `'sha256-${createHash('sha256').update('body{}').digest('base64')}'`);
  });
});

describe('formActionSources', () => {
  it('covers each redirect URI by its origin or, for private-use URIs, its scheme', () => {
    assert.deepEqual(formActionSources([
      'https://app.example.com/callback?x=1',
      'https://app.example.com/other',
      'http://127.0.0.1:8765/cb',
      'http://localhost/cb',
      'com.example.app:/oauth2redirect',
    ]), ['https://app.example.com', 'http://127.0.0.1:8765', 'http://localhost', 'com.example.app:']);
  });

  it('covers an IPv6 literal (not a CSP host-source) by its scheme, and skips what is not a URI', () => {
    assert.deepEqual(formActionSources(['http://[::1]:8080/cb', 'not a uri']), ['http:']);
  });
});
