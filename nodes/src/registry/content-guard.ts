import type { Digest } from 'georeg/oci';
import { KeyedLock } from '../keyed-lock.js';

export type TouchListener = (digest: Digest) => void;

/**
 * Coordinates writers with a garbage collection running in the same process.
 * Writers `touch` every digest they are about to depend on (a committed blob, a
 * mounted blob), or `hold` the digests of a write that spans several steps (a
 * manifest put, from reference check to commit). A GC `watch`es: it hears of
 * every digest held when it starts and every one touched or held while it runs,
 * and never removes those. Commits and removals of one digest run one at a time.
 */
export class ContentGuard {
  private readonly listeners = new Set<TouchListener>();
  private readonly held = new Map<Digest, number>();
  private readonly lock = new KeyedLock();

  touch(digests: Iterable<Digest>): void {
    if (this.listeners.size === 0) return;
    for (const d of digests) for (const l of this.listeners) l(d);
  }

  /** Touch `digests` and keep them visible to GCs that start before `release()` is called. */
  hold(digests: Digest[]): () => void {
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
