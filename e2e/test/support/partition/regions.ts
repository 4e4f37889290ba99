/**
 * The regions of a partition run, each inside its namespace (`ip netns exec`): a nats-server with
 * JetStream and a gateway to every other region, and a georeg node replicating from the others,
 * configured as `georeg cluster` does (cli/src/cluster/nats-config.ts) but bound to the
 * namespace's address. Ports are the same in every region: each namespace has its own stack.
 * Logs go to files in the run's directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NATS_SERVER, pushImage } from 'georeg/test-support';
import { cliMain } from '../process.js';
import { poll } from '../spawn.js';
import type { Net, NetRegion } from './net.js';

export const PORTS = { registry: 5000, replication: 5001, nats: 4222, gateway: 7222, route: 6222 };

export interface NatsTuning {
  /** nats-server's ping_interval (clients, routes and gateways), e.g. "2s"; "" for its own default (2 minutes). */
  pingInterval: string;
  /** Pings unanswered before a connection is stale. */
  pingMax: number;
}

/** What `georeg cluster` configures (NATS_PING in cli/src/cluster/nats-config.ts; e2e does not import cli). */
export const CLUSTER_NATS: NatsTuning = { pingInterval: '2s', pingMax: 2 };

export interface Region {
  name: string;
  addr: string;
  /** http://addr:5000, reachable from the test process. */
  url: string;
  nats: ChildProcess;
  node: ChildProcess;
  /** Files holding the processes' stderr. */
  logs: string[];
}

function natsConf(r: NetRegion, all: NetRegion[], dir: string, tuning: NatsTuning): string {
  const gateways = all.map((p) => `    { name: "${p.name}", url: "nats://${p.addr}:${PORTS.gateway}" }`).join(',\n');
  const ping = tuning.pingInterval ? `ping_interval: "${tuning.pingInterval}"\nping_max: ${tuning.pingMax}\n` : '';
  return `server_name: "${r.name}"
listen: "${r.addr}:${PORTS.nats}"
${ping}jetstream { store_dir: ${JSON.stringify(join(dir, 'nats'))} }
cluster { name: "${r.name}", listen: "${r.addr}:${PORTS.route}", routes: ["nats://${r.addr}:${PORTS.route}"] }
gateway {
  name: "${r.name}"
  listen: "${r.addr}:${PORTS.gateway}"
  gateways: [
${gateways}
  ]
}
`;
}

/** `cmd args` inside the namespace, stderr and stdout appended to `log`. */
function inNs(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = createWriteStream(log, { flags: 'a' });
  child.stdout?.pipe(file, { end: false });
  child.stderr?.pipe(file, { end: false });
  child.once('exit', () => file.end());
  return child;
}

function readyLine(child: ChildProcess, line: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (line.test(seen)) resolve();
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited with ${code ?? signal} before it was ready: ${seen.slice(-2000)}`)),
    );
  });
}

/** GET /georeg/v1/replication of a node (2 s at most). */
interface ReplicationStatus {
  outbox: { depth: number; published: number } | null;
  peers: { region: string; up: boolean; applied: number; lastAntiEntropy?: string }[];
}

export async function replicationStatus(url: string): Promise<ReplicationStatus> {
  const res = await fetch(`${url}/georeg/v1/replication`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${url}/georeg/v1/replication: ${res.status}`);
  return (await res.json()) as ReplicationStatus;
}

/** Start every region's nats-server, then every node; resolves once each node has every peer up, a first anti-entropy pass done, and events flowing. */
export async function startRegions(net: Net, dir: string, tuning: NatsTuning = CLUSTER_NATS): Promise<Region[]> {
  const regions: Region[] = [];
  for (const r of net.regions) {
    const rdir = join(dir, r.name);
    await mkdir(join(rdir, 'nats'), { recursive: true });
    await writeFile(join(rdir, 'nats.conf'), natsConf(r, net.regions, rdir, tuning));
    const logs = [join(rdir, 'nats.log'), join(rdir, 'node.log')];
    const nats = inNs(r.ns, NATS_SERVER, ['-c', join(rdir, 'nats.conf')], process.env, logs[0] as string);
    await readyLine(nats, /Server is ready/, `nats-server of ${r.name}`);
    const url = `http://${r.addr}:${PORTS.registry}`;
    const env = {
      ...process.env,
      GEOREG_REGION: r.name,
      GEOREG_PUBLIC_URL: url,
      GEOREG_INSECURE_HTTP: 'true',
      GEOREG_LOG_ACCESS: 'false',
      GEOREG_NATS_URL: `nats://${r.addr}:${PORTS.nats}`,
      GEOREG_REPLICATION_LISTEN: `${r.addr}:${PORTS.replication}`,
      GEOREG_REPLICATION_PEERS: net.regions
        .filter((p) => p !== r)
        .map((p) => `${p.name}=${p.addr}:${PORTS.replication}`)
        .join(','),
    };
    const args = [cliMain, 'serve', '--listen', `${r.addr}:${PORTS.registry}`, '--data', join(rdir, 'registry')];
    const node = inNs(r.ns, process.execPath, args, env, logs[1] as string);
    regions.push({ name: r.name, addr: r.addr, url, nats, node, logs });
  }
  await Promise.all(
    regions.map((r) => {
      const exited = new Promise<never>((_, reject) =>
        r.node.once('exit', (code, signal) => reject(new Error(`node ${r.name} exited with ${code ?? signal} (log: ${r.logs[1]})`))),
      );
      exited.catch(() => undefined);
      const peersUp = poll(
        60_000,
        `${r.name} to have every peer up after an anti-entropy pass`,
        async () => {
          const { peers } = await replicationStatus(r.url);
          return peers.length === regions.length - 1 && peers.every((p) => p.up && p.lastAntiEntropy) ? true : undefined;
        },
        200,
      );
      return Promise.race([peersUp, exited]);
    }),
  );
  await eventsFlow(regions);
  return regions;
}

/**
 * Resolves once events flow between every pair: each region pushed an image, published its events
 * (outbox empty) and applied one from every peer, so the first partition or kill does not hit
 * replication still setting up (a JetStream stream cannot be made while the metadata leader is
 * on the other side of a cut). Asked of the replication status, not by pulls: a pull would be
 * fetched through from the peer even with no event flowing.
 */
export async function eventsFlow(regions: { name: string; url: string }[], repo = 'part/ready'): Promise<void> {
  await Promise.all(regions.map((r) => pushImage(r.url, repo, r.name)));
  for (const r of regions) {
    await poll(
      120_000,
      `${r.name} to publish its events and apply one from every peer`,
      async () => {
        const s = await replicationStatus(r.url);
        const flowing = s.outbox !== null && s.outbox.depth === 0 && s.outbox.published > 0;
        return flowing && s.peers.length === regions.length - 1 && s.peers.every((p) => p.applied > 0) ? true : undefined;
      },
      200,
    );
  }
}

/** What the nats-servers logged after a heal: when the last gateway came back, and when JetStream had a metadata leader again. */
export interface NatsRecovery {
  /** Ms after `since` of the last gateway connection registered (undefined: none was re-made). */
  gatewaysMs?: number;
  /**
   * Ms after `since` of the first metadata leader elected after the last "no metadata leader"
   * (undefined: the leader was never lost; Infinity: lost and not elected again by `until`).
   */
  metaLeaderMs?: number;
}

/** A nats-server log line's time (it logs local time, e.g. `2026/12/05 07:26:11.656101`). */
function lineTime(line: string): number | undefined {
  const m = /(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(line);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}

export async function natsRecovery(regions: Region[], since: number, until: number): Promise<NatsRecovery> {
  const lines = (await Promise.all(regions.map((r) => readFile(r.logs[0] as string, 'utf8').catch(() => ''))))
    .flatMap((text) => text.split('\n'))
    .map((line) => ({ line, t: lineTime(line) }))
    .filter((x): x is { line: string; t: number } => x.t !== undefined && x.t >= since && x.t <= until)
    .sort((a, b) => a.t - b.t);
  const gateways = lines.filter((x) => /gateway connection (to|from) .* registered/.test(x.line)).at(-1);
  const lost = lines.filter((x) => x.line.includes('no metadata leader')).at(-1);
  const leader = lost && lines.find((x) => x.t >= lost.t && /new (JetStream cluster )?metadata leader/.test(x.line));
  return {
    ...(gateways && { gatewaysMs: gateways.t - since }),
    ...(lost && { metaLeaderMs: leader ? leader.t - since : Infinity }),
  };
}
