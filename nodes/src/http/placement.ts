import { ConfigError } from '../config.js';
import { contains, parseAddress, parseCidr, type Cidr } from './network.js';

/**
 * Client placement (`network.placement`): which region a client belongs to, by its address, as
 * `CIDR=region,...` (`10.1.0.0/16=eu,10.2.0.0/16=us`). The self-hosted stand-in for GeoDNS or a
 * cloud traffic manager: a blob GET from a client placed in another region is sent there when
 * that region holds the blob. The most specific block wins; an address no block holds is placed
 * nowhere (served where it asked).
 */
export class Placement {
  private constructor(private readonly rules: readonly { cidr: Cidr; region: string }[]) {}

  /** Undefined when `spec` is empty; a bad entry, or a region not in `regions`, is a ConfigError naming it. */
  static parse(spec: string, regions: readonly string[], setting = 'network.placement'): Placement | undefined {
    const parts = spec.split(',').map((p) => p.trim());
    if (parts.every((p) => p === '')) return undefined;
    const rules = parts.map((p) => {
      const eq = p.lastIndexOf('=');
      if (eq === -1) throw new ConfigError(`${setting}: ${JSON.stringify(p)} is not CIDR=region`);
      const region = p.slice(eq + 1).trim();
      if (!regions.includes(region))
        throw new ConfigError(`${setting}: ${JSON.stringify(p)} names region ${JSON.stringify(region)}, not one of ${regions.join(', ')}`);
      try {
        return { cidr: parseCidr(p.slice(0, eq)), region };
      } catch (e) {
        throw new ConfigError(`${setting}: ${(e as Error).message}`);
      }
    });
    return new Placement(rules.sort((a, b) => b.cidr.bits - a.cidr.bits));
  }

  /** The region a client at `address` belongs to, if a block holds it. */
  regionOf(address: string | undefined): string | undefined {
    return address === undefined ? undefined : this.ruleOf(address)?.region;
  }

  /** The most specific block holding `address` (as written in the setting) and its region, if one does. */
  ruleOf(address: string): { cidr: string; region: string } | undefined {
    const a = parseAddress(address);
    const rule = a && this.rules.find((r) => contains(r.cidr, a));
    return rule && { cidr: rule.cidr.text, region: rule.region };
  }
}
