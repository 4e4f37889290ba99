import type { Digest } from 'georeg/oci';

/**
 * Locks of digests among the nodes that share a metadata store (PostgreSQL: pg-digest-locks.ts),
 * so that a GC on one node never removes what a writer on another depends on. A writer holds the
 * digests it links or references shared, from finding their bytes stored to the link or manifest
 * that records them; a GC holds one digest exclusively while it removes it, and decides on what
 * the store holds of the digest read under that hold (writers that finished since the GC listed
 * the store are in it).
 */
export interface DigestLocks {
  /** Hold `digests` shared (waiting out a removal of one of them) until the returned function is called. */
  share(digests: readonly Digest[]): Promise<() => Promise<void>>;
  /**
   * Run `fn` holding `digest` exclusively, with what the store holds of it then; undefined, without
   * running `fn`, when a writer holds it (the GC keeps it: it is being linked).
   */
  remove<T>(digest: Digest, fn: (use: DigestUse) => Promise<T>): Promise<T | undefined>;
}

/** What a metadata store holds of a digest, in any repository. */
export interface DigestUse {
  /** A manifest of this digest, or one that references it, is stored. */
  referenced: boolean;
  /** The repositories that link it, with each link's `created`. */
  links: Map<string, number>;
}
