import type { Digest } from '../oci/digest.js';

export type TouchListener = (digest: Digest) => void;

/**
 * Coordinates writers with a garbage collection running in the same process.
 * Writers `touch` every digest they are about to depend on (a committed blob, a
 * mounted blob, a manifest's references); GC watches touches and never removes a
 * touched digest. Commits and removals of one digest run one at a time.
 */
export class ContentGuard {
  private readonly listeners = new Set<TouchListener>();
  private readonly tails = new Map<string, Promise<unknown>>();

  touch(digests: Iterable<Digest>): void {
    if (this.listeners.size === 0) return;
    for (const d of digests) for (const l of this.listeners) l(d);
  }

  watch(listener: TouchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Run `fn` after every earlier `exclusive` call for the same digest has settled. */
  async exclusive<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(digest) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(digest, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(digest) === tail) this.tails.delete(digest);
    }
  }
}
