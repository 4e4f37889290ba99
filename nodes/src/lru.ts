/**
 * A bounded least-recently-used map. Each entry weighs `weigh(value)` (1 by
 * default, or e.g. a buffer's length) and the total weight stays at most `max`.
 * A Map iterates in insertion order, so re-inserting on every hit keeps the
 * least recently used entry first, ready for eviction. Values must not be
 * `undefined`: that is how a miss reads.
 */
export class Lru<K, V> {
  readonly #max: number;
  readonly #weigh: (value: V) => number;
  readonly #map = new Map<K, V>();
  #total = 0;

  constructor(max: number, weigh: (value: V) => number = () => 1) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`LRU size must be a positive integer, got ${max}`);
    this.#max = max;
    this.#weigh = weigh;
  }

  /** The value, now most recently used; undefined on a miss. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  /** Store a value; one heavier than the whole LRU is not kept. */
  set(key: K, value: V): void {
    this.delete(key);
    const w = this.#weigh(value);
    if (w > this.#max) return;
    this.#map.set(key, value);
    this.#total += w;
    for (const [k, v] of this.#map) {
      if (this.#total <= this.#max) break;
      this.#map.delete(k);
      this.#total -= this.#weigh(v);
    }
  }

  delete(key: K): void {
    const old = this.#map.get(key);
    if (old === undefined) return;
    this.#map.delete(key);
    this.#total -= this.#weigh(old);
  }
}
