/**
 * Network rules: which client addresses a node serves (`network.allow`), and what counts as a
 * loopback listen address (the only place plain HTTP is allowed without `insecureHttp`).
 *
 * Addresses are compared as 128-bit IPv6 values: an IPv4 address is its IPv4-mapped form
 * `::ffff:a.b.c.d`, so a client Node reports as `::ffff:127.0.0.1` (dual-stack socket) matches
 * the rule `127.0.0.0/8`, and an IPv4 rule `a.b.c.d/n` is the IPv6 rule `::ffff:a.b.c.d/(96+n)`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../config.js';

/** Four big-endian 32-bit words (as int32: compared with `&`, whose results are int32 too). */
type Words = [number, number, number, number];

/** One rule: an address block. */
export interface Cidr {
  /** As written, for messages. */
  text: string;
  /** The prefix length in the 128-bit space (an IPv4 /24 is 120): longer is more specific. */
  readonly bits: number;
  /** The block's first address. */
  readonly base: Words;
  readonly mask: Words;
}

/**
 * The 128-bit value of an IPv4 or IPv6 address (IPv4 as `::ffff:a.b.c.d`; an IPv6 zone such as
 * `%eth0` is ignored), or undefined when `text` is not an IP address.
 */
export function parseAddress(text: string): Words | undefined {
  if (isIPv4(text)) return [0, 0, 0xffff, v4(text)];
  if (!isIPv6(text)) return undefined;
  const zone = text.indexOf('%');
  let s = zone === -1 ? text : text.slice(0, zone);
  const groups: number[] = [];
  const tail4 = s.lastIndexOf(':');
  if (s.includes('.', tail4)) {
    // An embedded IPv4 tail: `::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`.
    const n = v4(s.slice(tail4 + 1)) >>> 0;
    s = s.slice(0, tail4 + 1) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const gap = s.indexOf('::');
  const hex = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  if (gap === -1) {
    groups.push(...hex(s));
  } else {
    const head = hex(s.slice(0, gap));
    const tail = hex(s.slice(gap + 2));
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  const w = (i: number): number => ((groups[2 * i] as number) << 16) | (groups[2 * i + 1] as number) | 0;
  return [w(0), w(1), w(2), w(3)];
}

/** A dotted quad (already validated) as an int32. */
function v4(text: string): number {
  const [a, b, c, d] = text.split('.').map(Number) as [number, number, number, number];
  return (a << 24) | (b << 16) | (c << 8) | d | 0;
}

/** `10.0.0.0/8`, `::1/128`, `fd00::/8`; a bare address is a single host (/32, /128). Host bits are ignored. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash === -1 ? t : t.slice(0, slash);
  const ipv4 = isIPv4(addr);
  const words = !addr.includes('%') ? parseAddress(addr) : undefined;
  if (!words) throw new Error(`${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR block`);
  const max = ipv4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`${JSON.stringify(text)}: the prefix length must be 0 to ${max}`);
    prefix = Number(p);
  }
  const bits = ipv4 ? 96 + prefix : prefix;
  const mask = [0, 1, 2, 3].map((i) => {
    const n = Math.min(32, Math.max(0, bits - 32 * i));
    return n === 0 ? 0 : (0xffffffff << (32 - n)) | 0;
  }) as Words;
  const base = words.map((w, i) => w & (mask[i] as number)) as Words;
  return { text: t, bits, base, mask };
}

/** Whether `a` (from parseAddress) lies in the block. */
export function contains(c: Cidr, a: Words): boolean {
  return (
    (a[0] & c.mask[0]) === c.base[0] &&
    (a[1] & c.mask[1]) === c.base[1] &&
    (a[2] & c.mask[2]) === c.base[2] &&
    (a[3] & c.mask[3]) === c.base[3]
  );
}

/** The clients a node serves: parsed once at start; decisions cached per connection. */
export class AllowList {
  /** Per socket (keep-alive connection): its address does not change, so decide once. */
  private readonly decided = new WeakMap<object, boolean>();

  private constructor(readonly rules: readonly Cidr[]) {}

  /**
   * `network.allow`: comma-separated CIDRs. Empty means everyone, and gives undefined, so the
   * request path does not check at all. A bad entry is a ConfigError naming it.
   */
  static parse(spec: string, setting = 'network.allow'): AllowList | undefined {
    const parts = spec.split(',').map((p) => p.trim());
    if (parts.every((p) => p === '')) return undefined;
    const rules = parts.map((p) => {
      if (p === '') throw new ConfigError(`${setting}: empty entry in ${JSON.stringify(spec)}`);
      try {
        return parseCidr(p);
      } catch (e) {
        throw new ConfigError(`${setting}: ${(e as Error).message}`);
      }
    });
    return new AllowList(rules);
  }

  /** Whether a client at `address` (as Node reports it: IPv4, IPv6, or IPv4-mapped IPv6) is served. */
  allows(address: string | undefined): boolean {
    const a = address === undefined ? undefined : parseAddress(address);
    if (!a) return false;
    for (const rule of this.rules) if (contains(rule, a)) return true;
    return false;
  }

  /** `allows(socket.remoteAddress)`, decided once per connection. */
  allowsSocket(socket: { remoteAddress?: string | undefined }): boolean {
    let ok = this.decided.get(socket);
    if (ok === undefined) {
      ok = this.allows(socket.remoteAddress);
      // A socket already closed has no address: deny, but do not remember it.
      if (socket.remoteAddress !== undefined) this.decided.set(socket, ok);
    }
    return ok;
  }

  toString(): string {
    return this.rules.map((r) => r.text).join(',');
  }
}

const LOOPBACK = [parseCidr('127.0.0.0/8'), parseCidr('::1/128')];

/** A listen host that only this machine can reach: `localhost`, 127.0.0.0/8, `::1` (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const a = parseAddress(host);
  return a !== undefined && LOOPBACK.some((c) => contains(c, a));
}
