import { connect, createServer, type Server } from 'node:net';

/**
 * A TCP front that sends each new connection to the next of `targets` in turn: what a DNS
 * round-robin or a layer-4 balancer over several regions does to a client whose connections
 * come and go (Azure/acr#588). Bound to 127.0.0.1 on a port of its own choosing.
 */
export class RoundRobin {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targets: string[]): Promise<RoundRobin> {
    const to = targets.map((t) => new URL(t));
    let next = 0;
    const server = createServer((client) => {
      const target = to[next++ % to.length] as URL;
      const upstream = connect(Number(target.port), target.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RoundRobin(server, (server.address() as { port: number }).port);
  }

  close(): Promise<void> {
    // Connections still open (a client's keep-alive pool) are cut: close() alone would wait for them.
    this.server.unref();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
