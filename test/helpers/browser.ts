// A tiny browser for system tests: fetch with a cookie jar, redirects followed by hand (only
// within the origins under test, so a redirect to a client's redirect URI is returned, never
// fetched), and HTML forms filled in the way a person does: inputs found by their <label for>
// text, buttons by their text.
import { parse, type HTMLElement } from 'node-html-parser';

export type Cookie = {
  name: string;
  value: string;
  /** Host the cookie belongs to (cookies ignore ports, as in browsers). */
  host: string;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: string | undefined;
  /** Epoch ms; undefined for a session cookie. */
  expiresAt: number | undefined;
};

export class CookieJar {
  readonly #cookies = new Map<string, Cookie>();

  /** Stores the Set-Cookie headers of a response from `url` (attributes parsed, expiry honoured). */
  store(url: string, setCookieHeaders: string[]): void {
    const { hostname } = new URL(url);
    for (const header of setCookieHeaders) {
      const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: Cookie = {
        name: pair.slice(0, eq), value: pair.slice(eq + 1), host: hostname, path: '/',
        secure: false, httpOnly: false, sameSite: undefined, expiresAt: undefined,
      };
      for (const attribute of attributes) {
        const [rawKey = '', ...rest] = attribute.split('=');
        const key = rawKey.toLowerCase();
        const value = rest.join('=');
        if (key === 'path') cookie.path = value || '/';
        else if (key === 'secure') cookie.secure = true;
        else if (key === 'httponly') cookie.httpOnly = true;
        else if (key === 'samesite') cookie.sameSite = value;
        else if (key === 'max-age') cookie.expiresAt = Date.now() + Number(value) * 1000;
        else if (key === 'expires' && cookie.expiresAt === undefined) cookie.expiresAt = Date.parse(value);
      }
      const key = `${cookie.host};${cookie.path};${cookie.name}`;
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  /** The Cookie header a browser would send to `url`. */
  header(url: string): string {
    return this.matching(url).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  matching(url: string): Cookie[] {
    const { hostname, pathname, protocol } = new URL(url);
    return [...this.#cookies.values()].filter((c) =>
      c.host === hostname
      && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      && (!c.secure || protocol === 'https:')
      && (c.expiresAt === undefined || c.expiresAt > Date.now()));
  }

  get(url: string, name: string): Cookie | undefined {
    return this.matching(url).find((c) => c.name === name);
  }

  /** Plants a cookie, as an attacker or another tab could. */
  set(url: string, name: string, value: string): void {
    this.store(url, [`${name}=${value}; Path=/`]);
  }

  delete(url: string, name: string): void {
    this.store(url, [`${name}=; Path=/; Max-Age=0`]);
  }
}

export type Page = {
  url: string;
  status: number;
  headers: Headers;
  html: string;
  document: HTMLElement;
  /** Absolute Location of a redirect. */
  location: string | undefined;
  setCookies: string[];
};

export class Browser {
  readonly jar = new CookieJar();
  /** Sent with every request (e.g. X-Forwarded-For to act from another address behind a trusted proxy). */
  readonly headers: Record<string, string> = {};
  readonly #origins: Set<string>;

  /** `origins`: where redirects are followed; anything else (a client's redirect URI) is returned unfetched. */
  constructor(origins: string[]) {
    this.#origins = new Set(origins.map((o) => new URL(o).origin));
  }

  /** One request, no redirect followed. */
  async request(url: string, init: { method?: string; form?: URLSearchParams; headers?: Record<string, string>; body?: string } = {}): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html', ...this.headers, ...init.headers };
    const cookies = this.jar.header(url);
    if (cookies) headers.cookie = cookies;
    let body: string | undefined = init.body;
    if (init.form) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      body = init.form.toString();
    }
    const res = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
    const setCookies = res.headers.getSetCookie();
    this.jar.store(url, setCookies);
    const html = await res.text();
    const location = res.headers.get('location');
    return {
      url,
      status: res.status,
      headers: res.headers,
      html,
      document: parse(html),
      location: location ? new URL(location, url).toString() : undefined,
      setCookies,
    };
  }

  get(url: string): Promise<Page> {
    return this.request(url);
  }

  /** Follows redirects from `page` while they stay within the origins under test. */
  async follow(page: Page, maxRedirects = 10): Promise<Page> {
    let current = page;
    for (let i = 0; i < maxRedirects && this.isRedirect(current) && this.#origins.has(new URL(current.location!).origin); i++) {
      current = await this.request(current.location!);
    }
    return current;
  }

  /** GET `url` and follow its redirects within the origins under test. */
  async navigate(url: string): Promise<Page> {
    return this.follow(await this.get(url));
  }

  isRedirect(page: Page): boolean {
    return page.status >= 300 && page.status < 400 && page.location !== undefined;
  }

  /** The form on `page` (the one containing `buttonText` when given). */
  form(page: Page, buttonText?: string): Form {
    const forms = page.document.querySelectorAll('form');
    const form = buttonText === undefined ? forms[0] : forms.find((f) => findButton(f, buttonText) !== undefined);
    if (!form) throw new Error(`no form${buttonText ? ` with a "${buttonText}" button` : ''} on ${page.url} (status ${page.status})`);
    return new Form(this, page, form);
  }

  /** Every form on the page that has a button named `buttonText`. */
  forms(page: Page, buttonText: string): Form[] {
    return page.document.querySelectorAll('form').filter((f) => findButton(f, buttonText) !== undefined).map((f) => new Form(this, page, f));
  }
}

const text = (element: HTMLElement) => element.text.replace(/\s+/g, ' ').trim();

function findButton(form: HTMLElement, buttonText: string): HTMLElement | undefined {
  return form.querySelectorAll('button, input[type=submit]').find((b) => (b.tagName === 'BUTTON' ? text(b) : b.getAttribute('value') ?? '') === buttonText);
}

export class Form {
  readonly #browser: Browser;
  readonly #page: Page;
  readonly element: HTMLElement;
  readonly #values = new Map<string, string>();
  readonly #checked = new Set<string>();

  constructor(browser: Browser, page: Page, element: HTMLElement) {
    this.#browser = browser;
    this.#page = page;
    this.element = element;
  }

  get action(): string {
    return new URL(this.element.getAttribute('action') ?? '', this.#page.url).toString();
  }

  get method(): string {
    return (this.element.getAttribute('method') ?? 'get').toUpperCase();
  }

  /** The control labelled `labelText` by a `<label for>` (anywhere on the page, as in browsers). */
  control(labelText: string): HTMLElement {
    const label = this.#page.document.querySelectorAll('label[for]').find((l) => text(l) === labelText);
    if (!label) throw new Error(`no <label for> with the text "${labelText}"`);
    const id = label.getAttribute('for')!;
    const control = this.element.querySelectorAll('input, select, textarea').find((c) => c.getAttribute('id') === id);
    if (!control) throw new Error(`the label "${labelText}" points at #${id}, which is not a control of this form`);
    return control;
  }

  /** Types `value` into the field labelled `labelText`. */
  fill(labelText: string, value: string): this {
    this.#values.set(this.control(labelText).getAttribute('name')!, value);
    return this;
  }

  check(labelText: string): this {
    this.#checked.add(this.control(labelText).getAttribute('name')!);
    return this;
  }

  /** Value of a hidden (or any) input by name, as the page sent it. */
  hidden(name: string): string | undefined {
    return this.element.querySelectorAll('input').find((i) => i.getAttribute('name') === name)?.getAttribute('value');
  }

  button(buttonText: string): HTMLElement | undefined {
    return findButton(this.element, buttonText);
  }

  /** The form data a browser would send when `buttonText` is clicked (HTML "constructing the entry list"). */
  data(buttonText?: string): URLSearchParams {
    const data = new URLSearchParams();
    for (const input of this.element.querySelectorAll('input, textarea, select')) {
      const name = input.getAttribute('name');
      if (!name || input.hasAttribute('disabled')) continue;
      const type = (input.getAttribute('type') ?? 'text').toLowerCase();
      if (['submit', 'button', 'reset', 'image'].includes(type)) continue;
      if (type === 'checkbox' || type === 'radio') {
        const checked = this.#checked.has(name) || (input.hasAttribute('checked') && !this.#values.has(name));
        if (checked) data.append(name, input.getAttribute('value') ?? 'on');
        continue;
      }
      data.append(name, this.#values.get(name) ?? input.getAttribute('value') ?? '');
    }
    if (buttonText !== undefined) {
      const button = this.button(buttonText);
      if (!button) throw new Error(`no "${buttonText}" button in the form`);
      const name = button.getAttribute('name');
      if (name) data.append(name, button.getAttribute('value') ?? '');
    }
    return data;
  }

  /** Clicks `buttonText`: returns the response itself (a 303 stays a 303; call browser.follow to go on). */
  submit(buttonText?: string, change?: (data: URLSearchParams) => void): Promise<Page> {
    const data = this.data(buttonText);
    change?.(data);
    if (this.method === 'GET') {
      const url = new URL(this.action);
      url.search = data.toString();
      return this.#browser.request(url.toString());
    }
    return this.#browser.request(this.action, { method: 'POST', form: data });
  }
}
