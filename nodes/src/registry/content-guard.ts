import type { Digest } from '../oci/digest.js';
import { KeyedLock } from '../keyed-lock.js';

export type TouchListener = (digest: Digest) => void;

/**
 * Coordinates writers with a garbage collection running in the same process.
 * Writers `touch` every digest they are about to depend on (a committed blob, a
 * mounted blob, a manifest's references); GC watches touches and never removes a
 * touched digest. Commits and removals of one digest run one at a time.
 */
export class ContentGuard {
  private readonly listeners = new Set<TouchListener>();
  private readonly lock = new KeyedLock();

  touch(digests: Iterable<Digest>): void {
    if (this.listeners.size === 0) return;
    for (const d of digests) for (const l of this.listeners) l(d);
  }

  watch(listener: TouchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Run `fn` after every earlier `exclusive` call for the same digest has settled. */
  exclusive<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(digest, fn);
  }
}
