// Building blocks for the hostile-input property tests (fast-check): junk text, the ways a value
// can arrive in a query string or a form (percent-encoded UTF-8, malformed escapes, raw bytes that
// are not UTF-8), odd headers and methods, crafted JWTs, deeply nested JSON, and a digest of the
// whole test database so a test can prove that a barrage changed nothing.
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';

/**
 * The seed of this run: FC_SEED=<n> replays a reported run; otherwise a fresh one, printed with
 * the report. Every property of a file uses it, so one number replays the whole file.
 */
export const RUN_SEED: number = process.env.FC_SEED !== undefined && process.env.FC_SEED !== ''
  ? Number(process.env.FC_SEED)
  : Math.floor(Math.random() * 2 ** 31);

/** fast-check options: the run's seed (FC_SEED replays a reported failure); each property has its own run count. */
export function fcOptions<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns, seed: RUN_SEED };
}

/**
 * How many hostile inputs each target (endpoint or subject) was sent, printed at the end of a file:
 * one line per target, its parts (not counted again in the total) indented under it, then the total.
 */
export class TriedCounter {
  readonly #counts = new Map<string, number>();
  readonly #parts = new Map<string, Map<string, number>>();
  readonly #answers = new Map<string, Map<string, number>>();
  readonly #ms = new Map<string, number>();
  add(name: string, n = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + n);
  }
  /** Counts one input of `name` as going to `part` (an edge of a barrage over several), for the report only. */
  part(name: string, part: string, n = 1): void {
    const parts = this.#parts.get(name) ?? new Map<string, number>();
    parts.set(part, (parts.get(part) ?? 0) + n);
    this.#parts.set(name, parts);
  }
  /** Records an answer (a status, "reply", "closed"), so the report shows how deep the inputs got. */
  answer(name: string, answer: string): void {
    const answers = this.#answers.get(name) ?? new Map<string, number>();
    answers.set(answer, (answers.get(answer) ?? 0) + 1);
    this.#answers.set(name, answers);
  }
  /** Time spent on `name`'s inputs, shown in the report (the budget of a CI run is in seconds). */
  took(name: string, ms: number): void {
    this.#ms.set(name, (this.#ms.get(name) ?? 0) + ms);
  }
  get total(): number {
    return [...this.#counts.values()].reduce((a, b) => a + b, 0);
  }
  report(title: string, extra = ''): string {
    const names = [...this.#counts.keys(), ...[...this.#parts.values()].flatMap((p) => [...p.keys()].map((k) => `  ${k}`))];
    const width = Math.max(5, ...names.map((k) => k.length));
    const answers = (name: string) => {
      const seen = this.#answers.get(name);
      return seen ? `  (${[...seen].sort(([a], [b]) => a.localeCompare(b)).map(([a, n]) => `${a}: ${n}`).join(', ')})` : '';
    };
    const line = (name: string, n: number, rest = '') => `  ${name.padEnd(width)}  ${String(n).padStart(5)}${rest}`;
    const ms = (name: string) => (this.#ms.has(name) ? `  ${(this.#ms.get(name)! / 1000).toFixed(1)} s` : '');
    const lines = [...this.#counts].flatMap(([k, v]) => [
      line(k, v, `${ms(k)}${answers(k)}`),
      ...[...(this.#parts.get(k) ?? [])].map(([p, n]) => line(`  ${p}`, n)),
    ]);
    return [`${title} (seed ${RUN_SEED}; FC_SEED=${RUN_SEED} replays it):`, ...lines, line('total', this.total, extra)].join('\n');
  }
}

/** Strings that have broken parsers, templates and queries before. */
export const SPECIAL_STRINGS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'null', 'undefined', 'NaN', '[]', '{}', '[object Object]',
  '', ' ', '\t', '\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', '\ud800', '\udfff', '\ud83d', '💥', 'ß', 'İ',
  '%', '%%', '%ZZ', '+', '&', '=', ';', '..', '../../../etc/passwd', '..%2f..%2f', '<script>alert(1)</script>', '"><svg onload=alert(1)>',
  "' OR '1'='1", '{"$ne":null}', '{"$gt":""}', '${jndi:ldap://x/a}', '{{7*7}}', '<%= 7*7 %>', 'a\r\nSet-Cookie: x=1', '\\', '"', "'",
];

/** Short junk text: ASCII, any code point, the special strings, or a long run. */
export const junkText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 4000 }).map((n) => 'x'.repeat(n)) },
);

/** UTF-8 bytes of a string, a lone surrogate as its 3-byte (WTF-8) form, which is not valid UTF-8. */
export function wtf8(text: string): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      parts.push(Buffer.from(text.slice(i, i + 2), 'utf8'));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      parts.push(Buffer.from([0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]));
    } else {
      parts.push(Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.concat(parts);
}

/** Percent-encodes every byte outside the unreserved set (RFC 3986 §2.3). */
export function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** A form or query value as the server would receive it from a well-behaved client. */
export const encode = (text: string): string => percentEncode(wtf8(text));

/** Escapes that decode to invalid UTF-8, or are not escapes at all. */
export const INVALID_ESCAPES = [
  '%FF', '%FE%FF', '%C0%AF', '%C3%28', '%ED%A0%80', '%ED%BF%BF', '%F4%90%80%80', '%F8%88%80%80%80', '%E0%A4%A', '%', '%G0', '%0', '%00', '%0D%0A', '%u0041',
];

/** Raw bytes as a latin1 string (one char per byte): sent on the wire as they are, often not UTF-8. */
export const rawBytes = (maxLength = 8): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: 1, maxLength }).map((b) => Buffer.from(b).toString('latin1'));

/** A query or form component (name or value) as sent on the wire (latin1 string). */
export const wireComponent: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: junkText.map(encode) },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID_ESCAPES) },
  { weight: 1, arbitrary: rawBytes() },
);

export type WirePair = [name: string, value: string | undefined];

/** `name=value&…`; a pair without a value is sent as a bare name. */
export const serializePairs = (pairs: WirePair[]): string => pairs.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&');

/**
 * Form or query parameters: each known name present or not, with a good value (from `good`) or
 * junk; now and then one of them repeated; a few junk pairs; in a shuffled order.
 */
export function wirePairs(
  names: readonly string[],
  good: Record<string, fc.Arbitrary<string>> = {},
  { depth = 3, junkPairs = 2 } = {},
): fc.Arbitrary<WirePair[]> {
  // `depth` n: each known parameter is present n-1 times in n, with a good value 3n-3 times in 3n-2.
  return fc.record({
    known: fc.tuple(...names.map((name) => fc.option(valueFor(good[name], depth).map((value): WirePair => [name, value]), { freq: depth, nil: undefined }))),
    repeated: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...names), wireComponent) }),
    junk: fc.array(fc.tuple(wireComponent, fc.option(wireComponent, { nil: undefined })), { maxLength: junkPairs }),
    order: fc.nat(),
  }).map(({ known, repeated, junk, order }) => {
    const pairs: WirePair[] = known.filter((p): p is WirePair => p !== undefined);
    if (repeated) pairs.push(repeated);
    pairs.push(...junk);
    return pairs.map((p, i) => ({ p, k: (i * 7919 + order) % 104729 })).sort((a, b) => a.k - b.k).map((x) => x.p);
  });
}

function valueFor(good: fc.Arbitrary<string> | undefined, depth: number): fc.Arbitrary<string | undefined> {
  const junk = fc.oneof({ weight: 8, arbitrary: wireComponent }, { weight: 1, arbitrary: fc.constant(undefined) });
  return good ? fc.oneof({ weight: 3 * depth - 3, arbitrary: good.map(encode) }, { weight: 1, arbitrary: junk }) : junk;
}

/** Request methods: the usual, the odd, and ones the HTTP parser does not know. */
export const METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'QUERY', 'MKCOL', 'PURGE', 'get', 'FOO', 'G\u00c9T', '',
];

/** Content types a client might claim, right and wrong. */
export const CONTENT_TYPES = [
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/x-www-form-urlencoded; charset=iso-8859-1', 'application/x-www-form-urlencoded;;;', 'application/json', 'application/json; charset=utf-16',
  'text/plain', 'text/html', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/octet-stream', '*/*', 'x', '',
];

const JUNK_HEADER_NAMES = [
  'x-junk', 'request-id', 'x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'accept', 'accept-encoding', 'accept-language', 'origin',
  'referer', 'user-agent', 'te', 'range', 'if-none-match', 'content-encoding', 'content-language', 'cookie', 'authorization',
];
/** Any token that is a header name, but for those that frame the request (their own tests). */
const anyHeaderName = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/)
  .filter((n) => !/^(content-length|transfer-encoding|host|expect|connection)$/i.test(n));

/** Extra header lines, on one request in three: junk names and values (latin1, obs-text and control characters included). */
export const junkHeaders: fc.Arbitrary<[string, string][]> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<[string, string][]>([]) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.oneof(fc.tuple(fc.constantFrom(...JUNK_HEADER_NAMES), junkHeaderValue()), fc.tuple(anyHeaderName, junkHeaderValue())),
      { minLength: 1, maxLength: 4 },
    ),
  },
);

/** A header value without CR, LF or NUL (those break framing, which has its own tests). */
export function junkHeaderValue(): fc.Arbitrary<string> {
  return fc.oneof(
    junkText.map((s) => wtf8(s).toString('latin1').replace(/[\r\n\0]/g, '')),
    fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b.filter((x) => x >= 0x20 && x !== 0x7f)).toString('latin1')),
  );
}

/** JSON nested `depth` levels deep, of arrays or objects. */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/**
 * Tokens that look like JWTs: alg none, HMAC with the public key's kid, unknown or absurd kids,
 * junk claims, a known token with one character changed. The change is never in a segment's
 * last character, whose low bits base64url decoders ignore, so a mutant is never the original.
 */
export function jwtLike(known: { accessToken: string; kid: string; claims: Record<string, unknown> }): fc.Arbitrary<string> {
  const header = fc.oneof(
    fc.record({
      alg: fc.constantFrom('none', 'ES256', 'HS256', 'RS256', 'EdDSA', 'ES384', ''),
      typ: fc.constantFrom('at+jwt', 'JWT', ''),
      kid: fc.oneof(fc.constant(known.kid), junkText),
    }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const payload = fc.oneof(
    fc.record({
      claims: fc.constant(known.claims),
      override: fc.dictionary(fc.constantFrom('exp', 'iat', 'nbf', 'iss', 'aud', 'sub', 'client_id', 'scope', 'jti'), fc.jsonValue({ maxDepth: 1 })),
    })
      .map(({ claims, override }) => ({ ...claims, ...override })),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const signature = fc.oneof(
    fc.constant(''),
    fc.constant(known.accessToken.split('.')[2]!),
    fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64url')),
  );
  const crafted = fc.tuple(header, payload, signature).map(([h, p, s]) => `${b64url(h)}.${b64url(p)}.${s}`);
  const segments = known.accessToken.split('.');
  const startOf = (s: number) => segments.slice(0, s).reduce((n, x) => n + x.length + 1, 0);
  const positions = segments.flatMap((segment, s) => Array.from({ length: segment.length - 1 }, (_, i) => startOf(s) + i));
  const mutant = fc.tuple(fc.constantFrom(...positions), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'))
    .filter(([at, c]) => known.accessToken[at] !== c)
    .map(([at, c]) => `${known.accessToken.slice(0, at)}${c}${known.accessToken.slice(at + 1)}`);
  const at = known.accessToken;
  const odd = fc.constantFrom('a.b.c', '..', '...', 'e30.e30.', `${at}.`, `${at}x`, at.slice(0, -1), ` ${at}`, at.toUpperCase());
  return fc.oneof(crafted, mutant, odd);
}

/**
 * Near misses of a known (sealed) refresh token: one character changed, cut short, extended, or
 * re-spelled; none of them is a token this server sealed.
 */
export function refreshTokenLike(known: { refreshToken: string }): fc.Arbitrary<string> {
  const token = known.refreshToken;
  return fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: token.length - 1 }), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'))
      .filter(([at, c]) => token[at] !== c)
      .map(([at, c]) => `${token.slice(0, at)}${c}${token.slice(at + 1)}`),
    fc.integer({ min: 1, max: token.length - 1 }).map((length) => token.slice(0, length)),
    fc.constantFrom(
      `${token}A`, `${token}AA`, `${token}.`, `.${token}`, `${token}=`, `${token} `, token.toLowerCase(), token.toUpperCase(), `${token}${token}`,
    ),
  );
}

export type DbState = Map<string, { count: number; digest: string; lines: string[] }>;

/** Every collection of the test database: its document count, a digest of its documents, and the documents as sorted JSON lines. */
export async function dbState(db: Db): Promise<DbState> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const state: DbState = new Map();
  await Promise.all(names.map(async (name) => {
    const docs = await db.collection(name).find({}).toArray();
    const lines = docs.map((d) => JSON.stringify(d)).sort();
    state.set(name, { count: docs.length, digest: createHash('sha256').update(lines.join('\n')).digest('hex'), lines });
  }));
  return state;
}

const EMPTY = { count: 0, digest: createHash('sha256').update('').digest('hex'), lines: [] as string[] };

/** The collections whose documents differ between two states (a collection absent counts as empty). */
export function changedCollections(before: DbState, after: DbState): string[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((name) => {
    const a = before.get(name) ?? EMPTY;
    const b = after.get(name) ?? EMPTY;
    return a.count !== b.count || a.digest !== b.digest;
  }).sort();
}

/** What changed in the named collections, for a failure message: documents gone and documents new (a few of each). */
export function describeChanges(before: DbState, after: DbState, names: string[]): string {
  return names.map((name) => {
    const a = new Set((before.get(name) ?? EMPTY).lines);
    const b = new Set((after.get(name) ?? EMPTY).lines);
    const gone = [...a].filter((l) => !b.has(l));
    const added = [...b].filter((l) => !a.has(l));
    const few = (lines: string[]) => lines.slice(0, 3).map((l) => `    ${l.slice(0, 400)}`).join('\n');
    return `  ${name}: ${gone.length} gone, ${added.length} new\n${few(gone.map((l) => `- ${l}`))}\n${few(added.map((l) => `+ ${l}`))}`;
  }).join('\n');
}
