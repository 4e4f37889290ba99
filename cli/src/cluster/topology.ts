/**
 * The one description of a multi-region deployment that `georeg cluster` (processes on this
 * host) and deploy/compose (containers) share: which regions, the ports each serves, how a
 * region's NATS and node are reached, and so every node's peers. `georeg cluster` builds its
 * processes from it; deploy/ is written to match it, and a test compares the two.
 */

/** The regions of `georeg cluster` without --regions, and of deploy/compose. */
export const DEFAULT_REGIONS = ['eu', 'us', 'ap'];

/** Ports of one region. */
export interface RegionPorts {
  registry: number;
  replication: number;
  nats: number;
  gateway: number;
  route: number;
  /** NATS HTTP monitoring (healthz), where it is served. */
  monitor?: number;
}

export interface Topology {
  regions: string[];
  /** The address every server listens on. */
  listenHost: string;
  ports(region: string): RegionPorts;
  /** The host name under which a region's NATS server or node is reached by the other processes. */
  host(region: string, service: 'nats' | 'georeg'): string;
  /** Where the NATS servers keep JetStream's data. */
  jetStreamDir(region: string): string;
}

/** `georeg cluster`: everything on 127.0.0.1, region i on ports base+10i+{0..4}. */
export function localTopology(regions: string[], base: number, jetStreamDir: (region: string) => string): Topology {
  return {
    regions,
    listenHost: '127.0.0.1',
    ports: (region) => {
      const p = base + regions.indexOf(region) * 10;
      return { registry: p, replication: p + 1, nats: p + 2, gateway: p + 3, route: p + 4 };
    },
    host: () => '127.0.0.1',
    jetStreamDir,
  };
}

/** Nodes per region `georeg cluster` can place in a region's ten ports. */
export const MAX_LOCAL_NODES = 3;

/**
 * `georeg cluster --nodes-per-region N` with N > 1: node i (0-based) of a region serves HTTP on
 * base+10r+5+i behind the region's front (on its registry port), and replication on the region's
 * replication port (node 0; the one its peers name) or base+10r+7+i.
 */
export function localNodePorts(t: Topology, region: string, i: number): { http: number; replication: number } {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_LOCAL_NODES) throw new RangeError(`node ${i}: at most ${MAX_LOCAL_NODES} per region`);
  const own = t.ports(region);
  return { http: own.registry + 5 + i, replication: i === 0 ? own.replication : own.registry + 7 + i };
}

/** Inside every container of deploy/compose: the services' standard ports. */
export const CONTAINER_PORTS: RegionPorts = { registry: 5000, replication: 6000, nats: 4222, gateway: 7222, route: 6222, monitor: 8222 };

/** deploy/compose: a container per service, named `nats-<region>` and `georeg-<region>`. */
export function composeTopology(regions = DEFAULT_REGIONS): Topology {
  return {
    regions,
    listenHost: '0.0.0.0',
    ports: () => CONTAINER_PORTS,
    host: (region, service) => `${service}-${region}`,
    jetStreamDir: () => '/data/jetstream',
  };
}

/** The settings that place a node in the topology: its region, its NATS, its replication service and its peers. */
export function nodeEnv(t: Topology, region: string): Record<string, string> {
  const own = t.ports(region);
  return {
    GEOREG_REGION: region,
    GEOREG_NATS_URL: `nats://${t.host(region, 'nats')}:${own.nats}`,
    GEOREG_REPLICATION_LISTEN: `${t.listenHost}:${own.replication}`,
    GEOREG_REPLICATION_PEERS: t.regions
      .filter((p) => p !== region)
      .map((p) => `${p}=${t.host(p, 'georeg')}:${t.ports(p).replication}`)
      .join(','),
  };
}
