import { createConnection, createServer } from 'node:net';
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A free TCP port on loopback, for a server whose URL must be known before it listens. It is taken
 * below the kernel's ephemeral range, where no outgoing connection's local port can land on it
 * before the server listens, and reserved across processes, so that test files running side by
 * side are not handed the same one.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralRangeStart();
  mkdirSync(RESERVATIONS, { recursive: true });
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = randomInt(FIRST_PORT, below);
    if (port !== FETCH_BAD_PORT && reserve(port) && (await canListen(port))) return port;
  }
  throw new Error(`no free port found between ${FIRST_PORT} and ${below} (reservations in ${RESERVATIONS})`);
}

const FIRST_PORT = 10_000;
/** fetch() refuses to connect to it ("bad port" in the Fetch standard); the only one of that list above FIRST_PORT. */
const FETCH_BAD_PORT = 10_080;
/** Per user: a directory another user made in a shared temp directory would refuse every reservation. */
const RESERVATIONS = join(tmpdir(), `oauth-test-ports-${process.getuid?.() ?? 'user'}`);
/** Long past any test's start: a reservation older than this is free again. */
const RESERVED_MS = 60 * 60_000;

/** The first port Linux gives outgoing connections (32768 where it cannot be read or leaves too little room). */
export function ephemeralRangeStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return first > FIRST_PORT + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * True if no process handed out `port` in the last hour: an exclusive create of a file named after
 * it. A stale reservation is taken over by renaming it to a name of our own first, which only one
 * process can do; if what was renamed turns out fresh (another process took it over in between),
 * it is put back.
 */
function reserve(port: number): boolean {
  const file = join(RESERVATIONS, String(port));
  try {
    writeFileSync(file, '', { flag: 'wx' });
    return true;
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < RESERVED_MS) return false;
      const taken = `${file}.${process.pid}.${randomInt(1e9)}`;
      renameSync(file, taken);
      if (Date.now() - statSync(taken).mtimeMs < RESERVED_MS) {
        renameSync(taken, file);
        return false;
      }
      unlinkSync(taken);
      writeFileSync(file, '', { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listened on ${port} within ${timeoutMs} ms`);
}
