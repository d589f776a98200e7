// Which hosts a setting names, and whether all of them are this machine's loopback. The public
// development key-encryption key is allowed only when every one is (CONTRACT "Running it"), so
// anything this cannot read counts as not loopback.
import { BlockList, isIP } from 'node:net';

const loopbackAddresses = new BlockList();
loopbackAddresses.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackAddresses.addAddress('::1', 'ipv6');

/** localhost, 127.0.0.0/8 or ::1 (brackets allowed); a name other than localhost never is. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && loopbackAddresses.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** The host of an absolute URL (http, nats, ws…), or undefined when it does not parse. */
function urlHost(value: string): string | undefined {
  try {
    return new URL(value).hostname || undefined;
  } catch {
    return undefined;
  }
}

export const isLoopbackUrl = (value: string): boolean => {
  const host = urlHost(value);
  return host !== undefined && isLoopbackHost(host);
};

/**
 * Every server of a NATS_URL list (comma separated; a server without a scheme is nats://). The NATS
 * client parses a server its own way (as an http URL), so anything where two parsers could disagree
 * on the host (userinfo, a backslash, a percent escape) counts as not loopback.
 */
export function natsUrlsAreLoopback(natsUrl: string): boolean {
  const servers = natsUrl.split(',').map((s) => s.trim()).filter(Boolean);
  return servers.length > 0 && servers.every((s) => !/[@\\%]/.test(s) && isLoopbackUrl(/^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`));
}

/**
 * Every host of a MongoDB URI (a replica-set list `h1:27017,h2:27017`, IPv6 in brackets, a UNIX
 * socket path), and its SOCKS proxy if it names one. `mongodb+srv` hosts come from DNS: never loopback.
 */
export function mongoUriIsLoopback(uri: string): boolean {
  const match = /^mongodb:\/\/([^/?#]*)(?:\/[^?#]*)?(?:\?([^#]*))?/.exec(uri);
  if (!match) return false;
  const authority = match[1]!;
  const hosts = authority.slice(authority.lastIndexOf('@') + 1).split(',');
  // The driver reads its options case-insensitively: a proxy under any spelling goes elsewhere.
  const viaProxy = [...new URLSearchParams(match[2] ?? '').keys()].some((name) => name.toLowerCase().startsWith('proxy'));
  return hosts.every(isLoopbackHostPort) && !viaProxy;
}

function isLoopbackHostPort(hostPort: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(hostPort);
  } catch {
    return false;
  }
  if (decoded.startsWith('/') && decoded.endsWith('.sock')) return true; // a UNIX socket is on this machine
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(decoded);
  if (bracketed) return isLoopbackHost(bracketed[1]!);
  const plain = /^([^:]+)(?::\d+)?$/.exec(decoded);
  return plain !== null && isLoopbackHost(plain[1]!);
}
