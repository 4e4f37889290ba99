/** What one process at a time does among the nodes that share a metadata store. */
export const LEASES = ['outbox', 'gc'] as const;
export type LeaseName = (typeof LEASES)[number];

/** A lease held by this process: until released, or lost (its holder's hold on the store broke). */
export interface Lease {
  readonly held: boolean;
  /** Resolves once the lease is no longer held (released or lost). */
  readonly gone: Promise<void>;
  release(): Promise<void>;
}

/**
 * Leases within one process: what a store only one process can open (LevelDB, memory) grants,
 * since no other node shares it.
 */
export class ProcessLeases {
  readonly #held = new Set<LeaseName>();

  async tryLease(name: LeaseName): Promise<Lease | undefined> {
    if (this.#held.has(name)) return undefined;
    this.#held.add(name);
    let held = true;
    let ended!: () => void;
    const gone = new Promise<void>((resolve) => (ended = resolve));
    const leases = this.#held;
    return {
      get held() {
        return held;
      },
      gone,
      async release() {
        if (held) leases.delete(name);
        held = false;
        ended();
      },
    };
  }
}
