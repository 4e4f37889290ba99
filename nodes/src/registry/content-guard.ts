import type { Digest } from 'georeg/oci';
import { KeyedLock } from '../keyed-lock.js';
import type { DigestLocks, DigestUse } from '../meta/digest-locks.js';

export type TouchListener = (digest: Digest) => void;

/**
 * Coordinates writers with garbage collection. Writers run the steps that depend on digests
 * staying stored `writing` them (a manifest put, from reference check to commit) or `committing`
 * one (an upload commit, a mount, from finding the bytes stored to the link). A GC `watch`es: it
 * hears of every digest written when it starts and every one touched or written while it runs, and
 * never removes those; it removes a digest only `removing` it. Commits and removals of one digest
 * run one at a time. On a metadata store other nodes share, its digest locks (`shared`) do the same
 * across them: no GC removes a digest while a writer of any node writes it, and one decides on what
 * the store holds of the digest then.
 */
export class ContentGuard {
  private readonly listeners = new Set<TouchListener>();
  private readonly held = new Map<Digest, number>();
  private readonly lock = new KeyedLock();

  constructor(private readonly shared?: DigestLocks) {}

  touch(digests: Iterable<Digest>): void {
    if (this.listeners.size === 0) return;
    for (const d of digests) for (const l of this.listeners) l(d);
  }

  /** Touch `digests` and keep them visible to GCs that start before `release()` is called. */
  private hold(digests: Digest[]): () => void {
    this.touch(digests);
    for (const d of digests) this.held.set(d, (this.held.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of digests) {
        const n = (this.held.get(d) ?? 1) - 1;
        if (n > 0) this.held.set(d, n);
        else this.held.delete(d);
      }
    };
  }

  /** Run `fn` with `digests` touched and kept visible to GCs that start before it ends, and held in the digest locks. */
  async writing<T>(digests: Digest[], fn: () => Promise<T>): Promise<T> {
    const release = this.hold(digests);
    try {
      const unlock = await this.shared?.share(digests);
      try {
        return await fn();
      } finally {
        await unlock?.();
      }
    } finally {
      release();
    }
  }

  /** Run a writer's `fn` on one digest (writing it) after every earlier `exclusive` call for it has settled. */
  committing<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    return this.exclusive(digest, () => this.writing([digest], fn));
  }

  /**
   * Run a GC's removal of `digest` after every earlier `exclusive` call for it has settled. On a
   * shared store, only while no writer holds it (undefined otherwise, without running `fn`), with
   * what the store holds of it read then; `fn` has no such `use` on a store of this process alone.
   */
  removing<T>(digest: Digest, fn: (use: DigestUse | undefined) => Promise<T>): Promise<T | undefined> {
    return this.exclusive(digest, () => (this.shared ? this.shared.remove(digest, fn) : fn(undefined)));
  }

  /** Hear of every digest held now and every one touched or held until the returned function is called. */
  watch(listener: TouchListener): () => void {
    for (const d of this.held.keys()) listener(d);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Run `fn` after every earlier `exclusive` call for the same digest has settled. */
  exclusive<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(digest, fn);
  }
}
