import { KeyedLock } from '../keyed-lock.js';
import type { MetaStore } from '../meta/store.js';
import { compareHlc, type HlcTimestamp, type HybridClock } from '../hlc.js';

/** How far ahead of this region's clock a peer's change may be stamped. */
export const MAX_SKEW_MS = 5 * 60_000;

/** A record as stored: stamped with the clock of its last change. */
export type Clocked<T> = T & { clock: HlcTimestamp };

/** What became of a record from another region: stored, older than (or as old as) the one held, or stamped too far ahead. */
export type Applied = 'stored' | 'stale' | 'ahead';

export interface WriteHooks<T> {
  /** Events stored in the same write as a local change, built from its JSON as stored and its clock. */
  events?: (json: string, clock: HlcTimestamp) => Uint8Array[] | undefined;
  /** Told, still under the key's lock, once the record is stored (for owners that also hold it in memory). */
  stored?: (record: Clocked<T>) => void;
}

/**
 * Last-writer-wins records in the MetaStore's settings: a JSON object per key
 * carrying the hybrid-logical-clock time of its last change. Reading the
 * clock held, comparing and writing run one at a time per key, so concurrent
 * writers (local changes, and each peer's replication lanes) cannot store an
 * older record over a newer one. Owners validate a record's contents before
 * handing it here.
 */
export class LastWriterWins {
  readonly #locks = new KeyedLock();

  constructor(
    private readonly meta: MetaStore,
    private readonly hlc: HybridClock,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A change made here: `change` makes the record from the one held (parsed
   * JSON, undefined when none), under the key's lock, so no other change lands
   * between the read and the write; it may throw to refuse. Stamped `at`, or
   * else later than both this region's clock and the record held (whatever
   * this region's clock said).
   */
  write<T extends object>(key: string, change: (held: unknown) => T, at?: HlcTimestamp, hooks: WriteHooks<T> = {}): Promise<Clocked<T>> {
    return this.#locks.run(key, async () => {
      const raw = await this.meta.getSetting(key);
      const held = raw === undefined ? undefined : (JSON.parse(raw) as { clock?: HlcTimestamp });
      if (held?.clock) this.hlc.observe(held.clock);
      return this.#store(key, { ...change(held), clock: at ?? this.hlc.now() }, hooks);
    });
  }

  /** A record from another region stamped `at`: stored when newer than the one held, refused when too far ahead of this region's clock. */
  async apply<T extends object>(key: string, record: T, at: HlcTimestamp, hooks: Pick<WriteHooks<T>, 'stored'> = {}): Promise<Applied> {
    // A clock far ahead of ours would make the record outlive every later change.
    if (at.wallMs > this.now() + MAX_SKEW_MS) return 'ahead';
    this.hlc.observe(at);
    return this.#locks.run(key, async () => {
      const held = await this.#heldClock(key);
      if (held && compareHlc(at, held) <= 0) return 'stale';
      await this.#store(key, { ...record, clock: at }, hooks);
      return 'stored';
    });
  }

  async #heldClock(key: string): Promise<HlcTimestamp | undefined> {
    const held = await this.meta.getSetting(key);
    return held ? (JSON.parse(held) as { clock?: HlcTimestamp }).clock : undefined;
  }

  async #store<T>(key: string, record: Clocked<T>, hooks: WriteHooks<T>): Promise<Clocked<T>> {
    const json = JSON.stringify(record);
    await this.meta.putSetting(key, json, { events: hooks.events?.(json, record.clock) });
    hooks.stored?.(record);
    return record;
  }
}
