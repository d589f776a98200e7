// A reader for the nats-server configuration format, as far as deploy/*.conf use it: `key: value`,
// `key = value` and `key { … }` entries (commas and newlines between them), blocks, arrays, quoted
// strings, bare words and numbers, `$VARIABLE` references, `include <path>` and `#` / `//` comments.
// Tests read the NATS configuration with it instead of matching text, so a moved brace or a
// reordered list cannot hide a user, a permission or a route from them.

/** A `$NAME` reference: nats-server takes the value from the environment when it starts. */
export type NatsVariable = { variable: string };
export type NatsValue = string | number | boolean | NatsVariable | NatsValue[] | NatsBlock;
export type NatsBlock = { [key: string]: NatsValue };
/** A parsed file: its entries, and the paths it includes (in order). */
export type NatsConf = { entries: NatsBlock; includes: string[] };

export const isVariable = (value: unknown): value is NatsVariable =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as NatsVariable).variable === 'string';

export function parseNatsConf(text: string): NatsConf {
  let i = 0;
  const includes: string[] = [];
  const fail = (what: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new Error(`nats conf line ${line}: ${what}`);
  };
  /** Skips whitespace, commas, semicolons and comments (newlines too unless `keepNewlines`). */
  const skip = (keepNewlines = false) => {
    for (;;) {
      const c = text[i];
      if (c === '#' || (c === '/' && text[i + 1] === '/')) {
        while (i < text.length && text[i] !== '\n') i += 1;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === ',' || c === ';' || (c === '\n' && !keepNewlines)) {
        i += 1;
      } else return;
    }
  };
  const bareWord = (): string => {
    const start = i;
    while (i < text.length && !/[\s,;\]}]/.test(text[i]!)) i += 1;
    return text.slice(start, i);
  };
  const quoted = (): string => {
    const quote = text[i]!;
    i += 1;
    let out = '';
    while (i < text.length && text[i] !== quote) {
      if (text[i] === '\\' && quote === '"') {
        i += 1;
        out += text[i] === 'n' ? '\n' : text[i] === 't' ? '\t' : text[i];
      } else out += text[i];
      i += 1;
    }
    if (text[i] !== quote) fail('unterminated string');
    i += 1;
    return out;
  };
  const value = (): NatsValue => {
    skip();
    const c = text[i];
    if (c === '{') { i += 1; return block('}'); }
    if (c === '[') { i += 1; return array(); }
    if (c === '"' || c === "'") return quoted();
    const word = bareWord();
    if (word === '') fail('missing value');
    if (word.startsWith('$')) return { variable: word.slice(1) };
    if (/^-?\d+$/.test(word)) return Number(word);
    if (/^(true|yes|on)$/i.test(word)) return true;
    if (/^(false|no|off)$/i.test(word)) return false;
    return word;
  };
  const array = (): NatsValue[] => {
    const items: NatsValue[] = [];
    for (;;) {
      skip();
      if (i >= text.length) fail('unterminated array');
      if (text[i] === ']') { i += 1; return items; }
      items.push(value());
    }
  };
  const block = (end: '}' | undefined): NatsBlock => {
    const entries: NatsBlock = {};
    for (;;) {
      skip();
      if (i >= text.length) {
        if (end) fail('unterminated block');
        return entries;
      }
      if (text[i] === end) { i += 1; return entries; }
      const key = text[i] === '"' || text[i] === "'" ? quoted() : (() => {
        const start = i;
        while (i < text.length && !/[\s:={[]/.test(text[i]!)) i += 1;
        return text.slice(start, i);
      })();
      if (key === '') fail('missing key');
      skip(true);
      if (key === 'include') {
        includes.push(text[i] === '"' || text[i] === "'" ? quoted() : bareWord());
        continue;
      }
      if (text[i] === ':' || text[i] === '=') i += 1;
      // Later entries replace earlier ones, as in nats-server.
      entries[key] = value();
    }
  };
  return { entries: block(undefined), includes };
}

/** A user of an `authorization { users = [...] }` block: name, password variable and permissions. */
export type NatsUser = { user: string; password: NatsValue; publish: string[]; subscribe: string[] };

const allowList = (permissions: NatsValue | undefined, direction: 'publish' | 'subscribe'): string[] => {
  const side = (permissions as NatsBlock | undefined)?.[direction];
  if (side === undefined) return [];
  if (typeof side === 'string') return [side];
  if (Array.isArray(side)) return side.map(String);
  const allow = (side as NatsBlock).allow;
  if ((side as NatsBlock).deny !== undefined) throw new Error('deny lists are not expected in this configuration');
  return Array.isArray(allow) ? allow.map(String) : typeof allow === 'string' ? [allow] : [];
};

export function natsUsers(entries: NatsBlock): NatsUser[] {
  const users = (entries.authorization as NatsBlock | undefined)?.users;
  if (!Array.isArray(users)) return [];
  return users.map((u) => {
    const user = u as NatsBlock;
    return { user: String(user.user), password: user.password!, publish: allowList(user.permissions, 'publish'), subscribe: allowList(user.permissions, 'subscribe') };
  });
}
