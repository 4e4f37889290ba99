/**
 * Partitions as nftables rules inside each region's namespace: a set `cut` of peer addresses
 * whose packets are dropped both ways (input by source, output by destination), so NATS
 * gateway and gRPC replication traffic between cut regions stops alike, silently, as in a real
 * partition (connections hang, they are not refused). The test process on the bridge is never cut.
 */
import { run, type Net, type NetRegion } from './net.js';

const TABLE = `table inet grp {
  set cut { type ipv4_addr; }
  chain input { type filter hook input priority 0; policy accept; ip saddr @cut counter drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr @cut counter drop; }
}
`;

function nft(r: NetRegion, script: string): Promise<string> {
  return run('ip', ['netns', 'exec', r.ns, 'nft', '-f', '-'], script);
}

export class Firewall {
  /** Pairs of region names that cannot reach each other, as "a|b" with a < b. */
  private readonly cuts = new Set<string>();

  private constructor(private readonly net: Net) {}

  static async install(net: Net): Promise<Firewall> {
    for (const r of net.regions) await nft(r, TABLE);
    return new Firewall(net);
  }

  private static key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  /** a and b no longer reach each other (on top of the cuts already made). */
  cut(a: string, b: string): Promise<void> {
    this.cuts.add(Firewall.key(a, b));
    return this.apply();
  }

  /** a reaches no other region. */
  isolate(a: string): Promise<void> {
    for (const r of this.net.regions) if (r.name !== a) this.cuts.add(Firewall.key(a, r.name));
    return this.apply();
  }

  /** No region reaches another. */
  splitAll(): Promise<void> {
    for (const a of this.net.regions) for (const b of this.net.regions) if (a.name < b.name) this.cuts.add(Firewall.key(a.name, b.name));
    return this.apply();
  }

  healAll(): Promise<void> {
    this.cuts.clear();
    return this.apply();
  }

  /** The region names each region is cut from. */
  cutFrom(name: string): string[] {
    return this.net.regions.filter((r) => r.name !== name && this.cuts.has(Firewall.key(name, r.name))).map((r) => r.name);
  }

  /** Each namespace's set holds exactly the addresses of the regions it is cut from (one nft transaction per namespace). */
  private async apply(): Promise<void> {
    await Promise.all(
      this.net.regions.map((r) => {
        const addrs = this.net.regions.filter((p) => this.cutFrom(r.name).includes(p.name)).map((p) => p.addr);
        return nft(r, `flush set inet grp cut\n${addrs.length ? `add element inet grp cut { ${addrs.join(', ')} }\n` : ''}`);
      }),
    );
  }

  /** Packets the rules dropped so far, per region (evidence that the cuts held). */
  async dropped(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of this.net.regions) {
      const listing = await run('ip', ['netns', 'exec', r.ns, 'nft', 'list', 'table', 'inet', 'grp']);
      out[r.name] = [...listing.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    }
    return out;
  }
}
