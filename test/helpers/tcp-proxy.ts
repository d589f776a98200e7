// A TCP relay on a free loopback port in front of a real server, that can go silent: from then on
// it accepts connections and keeps them open, but passes nothing on in either direction, as a
// database that hangs would. Without a target it is silent from the start.
import { connect, createServer, type Socket } from 'node:net';

export type SilentCapableProxy = {
  port: number;
  /** Stop passing bytes on (existing and new connections stay open, and silent). */
  silence(): void;
  /** Pass bytes on again; connections opened from now on reach the target. */
  resume(): void;
  stop(): Promise<void>;
};

export async function startTcpProxy(target?: { host: string; port: number }): Promise<SilentCapableProxy> {
  let silent = target === undefined;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    if (silent || !target) {
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    client.on('data', (chunk) => void (silent || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (silent || client.write(chunk)));
    // A silent relay keeps the other side open, as a hung server would.
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => void (silent || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    silence: () => void (silent = true),
    resume: () => void (silent = target === undefined),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
