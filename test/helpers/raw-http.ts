// HTTP/1.1 over a bare socket, for requests `fetch` refuses to send: raw bytes in the request
// target and headers, duplicated or oversized headers, odd methods, bodies that contradict their
// content type. Every request closes its connection and has a deadline: a server that neither
// answers nor closes in time is reported as a hang.
import { connect } from 'node:net';

export type RawRequest = {
  method: string;
  /** The request target as sent, byte for byte (may hold invalid UTF-8). */
  target: Buffer | string;
  /** Header lines as sent; Host, Content-Length and Connection are added unless `bare` is set. */
  headers?: [string, Buffer | string][];
  body?: Buffer | string;
  /** Send exactly the given headers (no Host, Content-Length or Connection added). */
  bare?: boolean;
  /** Send the body with Transfer-Encoding: chunked (in chunks of this many bytes) instead of Content-Length. */
  chunked?: number;
};

export type RawResponse = {
  kind: 'response';
  status: number;
  /** Header names lower-cased; repeated headers joined with ", " (set-cookie kept apart). */
  headers: Record<string, string>;
  setCookies: string[];
  body: Buffer;
};

/** The server closed (or reset) the connection without a complete response. */
export type RawClosed = { kind: 'closed'; error?: string; partial: Buffer };

export class RequestDeadlineExceeded extends Error {}

/** Strings are sent as latin1 (one byte per char), so tests write any byte as a char \x00–\xFF. */
const bytes = (value: Buffer | string): Buffer => (typeof value === 'string' ? Buffer.from(value, 'latin1') : value);

export function encodeRequest(port: number, request: RawRequest): Buffer {
  const body = request.body === undefined ? undefined : bytes(request.body);
  const lines: Buffer[] = [Buffer.concat([bytes(`${request.method} `), bytes(request.target), bytes(' HTTP/1.1\r\n')])];
  if (!request.bare) lines.push(Buffer.from(`Host: 127.0.0.1:${port}\r\n`));
  for (const [name, value] of request.headers ?? []) {
    lines.push(Buffer.concat([bytes(`${name}: `), bytes(value), bytes('\r\n')]));
  }
  if (!request.bare) {
    lines.push(Buffer.from('Connection: close\r\n'));
    if (body !== undefined) lines.push(Buffer.from(request.chunked ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${body.length}\r\n`));
  }
  lines.push(Buffer.from('\r\n'));
  if (body !== undefined && request.chunked) {
    for (let at = 0; at < body.length; at += request.chunked) {
      const chunk = body.subarray(at, at + request.chunked);
      lines.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    }
    lines.push(Buffer.from('0\r\n\r\n'));
  } else if (body !== undefined) lines.push(body);
  return Buffer.concat(lines);
}

/** Sends one request and reads one response (or the close), within `timeoutMs`. */
export function rawRequest(port: number, request: RawRequest, timeoutMs = 5000): Promise<RawResponse | RawClosed> {
  const bytes = encodeRequest(port, request);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (value: RawResponse | RawClosed | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new RequestDeadlineExceeded(`no answer within ${timeoutMs} ms to ${request.method} ${String(request.target).slice(0, 80)}`)), timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received, request.method === 'HEAD');
      if (parsed) finish(parsed);
    });
    // A server may answer early (413, 431) and reset while we still write: keep what was answered.
    socket.on('error', (error) => finish(parseResponse(received, request.method === 'HEAD', true) ?? { kind: 'closed', error: error.message, partial: received }));
    socket.on('close', () => finish(parseResponse(received, request.method === 'HEAD', true) ?? { kind: 'closed', partial: received }));
  });
}

/** A complete response from the bytes so far, or undefined while more are needed. */
export function parseResponse(bytes: Buffer, head: boolean, atEnd = false): RawResponse | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers: Record<string, string> = {};
  const setCookies: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'set-cookie') setCookies.push(value);
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = bytes.subarray(end + 4);
  const done = (body: Buffer): RawResponse => ({ kind: 'response', status, headers, setCookies, body });
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return done(Buffer.alloc(0));
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    const body = dechunk(rest);
    return body ? done(body) : atEnd ? done(rest) : undefined;
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length >= length) return done(rest.subarray(0, length));
    return atEnd ? done(rest) : undefined;
  }
  return atEnd ? done(rest) : undefined;
}

function dechunk(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
