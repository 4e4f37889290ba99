/** What a region knows of a peer from its health probes. */
export interface PeerHealth {
  /** It answered its last probe. */
  up: boolean;
  /** It said it is drained: no client is sent there (it still serves its own, and replicates). */
  drained: boolean;
  /** The probes' round trip, smoothed; undefined until one answered. */
  rttMs?: number;
  /** Its registry URL as clients reach it, from its probe answers. */
  publicUrl?: string;
}

export type HealthOf = (region: string) => PeerHealth;

/** The round trip taken for a peer not measured yet: after every measured one. */
const UNMEASURED = 60_000;

/** `peers` nearest first (lowest smoothed round trip; not measured yet, last), as a new array. */
export function nearestFirst<T extends { region: string }>(peers: readonly T[], health: HealthOf): T[] {
  const rtt = (p: T): number => health(p.region).rttMs ?? UNMEASURED;
  return [...peers].sort((a, b) => rtt(a) - rtt(b));
}
