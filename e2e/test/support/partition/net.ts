/**
 * Network namespaces for the partition e2e: a bridge on this machine and one namespace per
 * region, joined to the bridge by a veth pair. The regions' addresses (10.a.b.1, .2, ...) exist
 * only inside their namespaces; the bridge holds 10.a.b.254 so the test process can reach the
 * nodes. Names carry the run's id (its pid) so parallel runs do not clash, and a run sweeps the
 * leftovers of runs that died before their teardown.
 *
 * Where a Docker engine has run, bridged traffic goes through iptables' FORWARD chain (Docker
 * loads br_netfilter) whose policy Docker set to DROP: the run then accepts its own bridge's
 * traffic there with one rule, removed with the bridge.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface NetRegion {
  name: string;
  /** The network namespace it runs in. */
  ns: string;
  /** Its address, inside its namespace only. */
  addr: string;
  /** The host end of its veth pair. */
  veth: string;
}

export interface Net {
  id: number;
  bridge: string;
  /** The bridge's address: the test process talks to the nodes from it. */
  hostAddr: string;
  regions: NetRegion[];
}

/** Run `ip` (or any command), optionally with a batch on stdin; rejects with its stderr. */
export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const child = exec(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** Why namespaces cannot be made here, or undefined when they can (root with `ip` and `nft`). */
export async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the partition e2e makes network namespaces and firewall rules: it needs root';
  for (const tool of ['ip', 'nft']) {
    try {
      await run(tool, ['-V']);
    } catch {
      return `\`${tool}\` is missing (npm test's pretest installs iproute2 and nftables)`;
    }
  }
  return undefined;
}

const NAME = /^grp-(?:br|v\d+-|[a-z0-9]+-)(\d+)$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kill every process in the namespace and delete it. */
async function removeNs(ns: string): Promise<void> {
  const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

async function ours(): Promise<{ namespaces: string[]; links: string[] }> {
  const namespaces = (await run('ip', ['netns', 'list']))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => NAME.test(n));
  const links = (await run('ip', ['-o', 'link', 'show']))
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => NAME.test(n));
  return { namespaces, links };
}

/** Remove namespaces, bridges and veths of runs whose process is gone; returns what it removed. */
export async function sweepStale(): Promise<string[]> {
  const { namespaces, links } = await ours();
  const stale = (n: string): boolean => !alive(Number(NAME.exec(n)?.[1]));
  const removed = [...namespaces.filter(stale), ...links.filter(stale)];
  for (const ns of namespaces.filter(stale)) await removeNs(ns);
  for (const link of links.filter(stale)) await run('ip', ['link', 'del', link]).catch(() => undefined);
  if (haveIptables()) {
    const rules = (await run('iptables', ['-S', 'FORWARD']).catch(() => '')).split('\n');
    for (const bridge of new Set(rules.flatMap((r) => /-i (grp-br\d+) -o \1 -j ACCEPT/.exec(r)?.[1] ?? []))) {
      if (!stale(bridge)) continue;
      await run('iptables', ['-D', ...forwardRule(bridge)]).catch(() => undefined);
      removed.push(`iptables FORWARD rule of ${bridge}`);
    }
  }
  return removed;
}

/** A /24 of 10/8 for this run, not overlapping a route of this machine. */
async function subnet(id: number): Promise<string> {
  const routes = await run('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let k = 0; k < 256; k++) {
    const n = (id + k * 7919) % 65536;
    const prefix = `10.${n >> 8}.${n & 255}`;
    if (!routes.includes(`${prefix}.`)) return prefix;
  }
  throw new Error('no free 10.x.y.0/24 for the partition network');
}

/** The FORWARD rule accepting traffic within `bridge`, as iptables' arguments after -I/-D/-C. */
const forwardRule = (bridge: string): string[] => ['FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT'];

/** Whether iptables is here (it is wherever Docker ran); without it nothing filters bridged traffic. */
const haveIptables = (): boolean => spawnSync('iptables', ['-V']).status === 0;

/** Nets not destroyed yet: removed synchronously if the process exits first (a signal, process.exit). */
const live = new Map<number, Net>();
process.once('exit', () => {
  for (const net of live.values()) {
    for (const r of net.regions) {
      const pids = spawnSync('ip', ['netns', 'pids', r.ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', r.ns]);
      spawnSync('ip', ['link', 'del', r.veth]);
    }
    spawnSync('ip', ['link', 'del', net.bridge]);
    spawnSync('iptables', ['-D', ...forwardRule(net.bridge)]);
  }
});

/** Leave the net in place when the process exits (--keep). */
export function keepNet(net: Net): void {
  live.delete(net.id);
}

/** The bridge and a namespace per region; on failure, whatever was made is removed. */
export async function createNet(regionNames: string[], id = process.pid): Promise<Net> {
  const prefix = await subnet(id);
  const net: Net = {
    id,
    bridge: `grp-br${id}`,
    hostAddr: `${prefix}.254`,
    regions: regionNames.map((name, i) => ({ name, ns: `grp-${name}-${id}`, addr: `${prefix}.${i + 1}`, veth: `grp-v${i}-${id}` })),
  };
  live.set(id, net);
  try {
    const host = [`link add ${net.bridge} type bridge`, `addr add ${net.hostAddr}/24 dev ${net.bridge}`, `link set ${net.bridge} up`];
    for (const r of net.regions) {
      host.push(
        `netns add ${r.ns}`,
        `link add ${r.veth} type veth peer name eth0 netns ${r.ns}`,
        `link set ${r.veth} master ${net.bridge} up`,
      );
    }
    await run('ip', ['-batch', '-'], host.join('\n') + '\n');
    if (haveIptables()) await run('iptables', ['-I', ...forwardRule(net.bridge)]);
    for (const r of net.regions) {
      await run('ip', ['-n', r.ns, '-batch', '-'], `addr add ${r.addr}/24 dev eth0\nlink set eth0 up\nlink set lo up\n`);
    }
    return net;
  } catch (e) {
    await destroyNet(net);
    throw e;
  }
}

/** Kill what runs in the namespaces and remove them, the veths and the bridge (each step whatever the others did). */
export async function destroyNet(net: Net): Promise<void> {
  live.delete(net.id);
  for (const r of net.regions) {
    await removeNs(r.ns);
    await run('ip', ['link', 'del', r.veth]).catch(() => undefined);
  }
  await run('ip', ['link', 'del', net.bridge]).catch(() => undefined);
  if (haveIptables()) await run('iptables', ['-D', ...forwardRule(net.bridge)]).catch(() => undefined);
}

/** What is left of the run `id` (empty once destroyNet is done). */
export async function leftovers(id: number): Promise<string[]> {
  const { namespaces, links } = await ours();
  const left = [...namespaces, ...links].filter((n) => NAME.exec(n)?.[1] === String(id));
  const bridge = `grp-br${id}`;
  if (haveIptables() && spawnSync('iptables', ['-C', ...forwardRule(bridge)]).status === 0) left.push(`iptables FORWARD rule of ${bridge}`);
  return left;
}
