import type { Topology } from './topology.js';

/**
 * Pings every 2 s, a connection stale after 2 unanswered (nats-server's default is 2 minutes): a
 * gateway into a partition is closed within about 6 s and re-dialled, so it is back within a
 * second of the heal instead of waiting out TCP's retransmit backoff (15 s after a 33 s cut in the
 * partition e2e). The partition e2e's regions use the same.
 */
export const NATS_PING = { interval: '2s', max: 2 };

/**
 * nats-server config for one region of a topology: JetStream, a one-server cluster named after
 * the region (JetStream in a supercluster needs cluster mode; the route to itself satisfies
 * nats-server 2.9), a gateway to every region, NATS_PING, and HTTP monitoring where the
 * topology has a port for it.
 */
export function natsConfig(
  t: Topology,
  region: string,
  /** Client credentials the server requires (a secure cluster). */
  auth?: { user: string; password: string },
): string {
  const ports = t.ports(region);
  const listen = (port: number): string => JSON.stringify(`${t.listenHost}:${port}`);
  const url = (r: string, port: number): string => JSON.stringify(`nats://${t.host(r, 'nats')}:${port}`);
  const gateways = t.regions.map((r) => `    { name: "${r}", url: ${url(r, t.ports(r).gateway)} }`).join(',\n');
  const authorization = auth ? `authorization { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)} }\n` : '';
  const monitor = ports.monitor ? `http: ${listen(ports.monitor)}\n` : '';
  return `server_name: "${region}"
listen: ${listen(ports.nats)}
${monitor}ping_interval: "${NATS_PING.interval}"
ping_max: ${NATS_PING.max}
${authorization}jetstream { store_dir: ${JSON.stringify(t.jetStreamDir(region))} }
cluster {
  name: "${region}"
  listen: ${listen(ports.route)}
  routes: [${url(region, ports.route)}]
}
gateway {
  name: "${region}"
  listen: ${listen(ports.gateway)}
  gateways: [
${gateways}
  ]
}
`;
}
