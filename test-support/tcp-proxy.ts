/**
 * A TCP proxy on 127.0.0.1 in front of a server (PostgreSQL in the tests), to cut a client off from
 * it the two ways a network does: at once (connections closed, new ones refused) or silently
 * (bytes stop flowing either way, connections stay open, as when a partition drops packets).
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port the proxy listens on. */
  port: number;
  /** `url` (whose host is the server's) with the proxy's host and port instead. */
  via(url: string): string;
  /** Forward nothing more either way, on connections open or made from now on; close nothing. */
  freeze(): void;
  /** Close every connection and stop listening: a client's next connect is refused. */
  cut(): Promise<void>;
}

/** A proxy to the server `serverUrl` names (its port, else PostgreSQL's 5432). */
export async function startTcpProxy(serverUrl: string): Promise<TcpProxy> {
  const { hostname: host, port: given } = new URL(serverUrl);
  const port = Number(given || 5432);
  const sockets = new Set<Socket>();
  let frozen = false;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (frozen) return client.pause();
    const upstream = createConnection({ host, port });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const proxyPort = (server.address() as AddressInfo).port;
  return {
    port: proxyPort,
    via(url) {
      const u = new URL(url);
      u.host = `127.0.0.1:${proxyPort}`;
      return u.href;
    },
    freeze() {
      frozen = true;
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
