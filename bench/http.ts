// A lean HTTP client for the load generator: keep-alive connections (node:http, cheaper per
// request than fetch, so the generator leaves more of the machine to the services), manual
// redirects, and a small cookie jar per simulated browser.
import http from 'node:http';
import https from 'node:https';

export type Response = { status: number; headers: http.IncomingHttpHeaders; body: string };

export type RequestOptions = {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A form body (application/x-www-form-urlencoded). */
  form?: Record<string, string>;
};

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 512 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 512 }),
};

export function request(url: string, options: RequestOptions = {}): Promise<Response> {
  const target = new URL(url);
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const protocol = target.protocol === 'https:' ? 'https:' : 'http:';
  const send = protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: options.method ?? 'GET', headers, agent: agents[protocol], timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${target.origin}${target.pathname} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Closes idle keep-alive connections (so the process can exit). */
export function closeConnections(): void {
  agents['http:'].destroy();
  agents['https:'].destroy();
}

/** A browser's cookies, per host name (ports share cookies, as in browsers). */
export class CookieJar {
  readonly #byHost = new Map<string, Map<string, string>>();

  header(url: string): string | undefined {
    const cookies = this.#byHost.get(new URL(url).hostname);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  store(url: string, response: Response): void {
    const lines = response.headers['set-cookie'];
    if (!lines) return;
    const host = new URL(url).hostname;
    const cookies = this.#byHost.get(host) ?? new Map<string, string>();
    for (const line of lines) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expired = attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
    this.#byHost.set(host, cookies);
  }
}

/** A request that sends and keeps the jar's cookies. */
export async function browse(jar: CookieJar, url: string, options: RequestOptions = {}): Promise<Response> {
  const cookie = jar.header(url);
  const response = await request(url, { ...options, headers: { ...options.headers, ...(cookie ? { cookie } : {}) } });
  jar.store(url, response);
  return response;
}

/** The absolute Location of a redirect, or an error naming what came instead. */
export function location(response: Response, from: string, what: string): string {
  const value = response.headers.location;
  if (response.status < 300 || response.status >= 400 || !value) {
    throw new Error(`${what}: expected a redirect, got ${response.status} ${response.body.slice(0, 120).replace(/\s+/g, ' ')}`);
  }
  return new URL(value, from).toString();
}

/** The value of a hidden form field in a page we render ourselves (values are URL-safe tokens). */
export function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no ${name} field on the page`);
  return match[1]!;
}
