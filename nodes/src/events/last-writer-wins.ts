import { KeyedLock } from '../keyed-lock.js';
import type { RecordStore } from '../meta/store.js';
import type { HlcTimestamp, HybridClock } from '../hlc.js';
import { changeOrder } from './change-order.js';

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
 * Last-writer-wins records in one of the MetaStore's named record stores: an
 * object per key carrying the hybrid-logical-clock time of its last change. Reading the
 * clock held, comparing and writing run one at a time per key, so concurrent
 * writers (local changes, and each peer's replication lanes) cannot store an
 * older record over a newer one. Owners validate a record's contents before
 * handing it here.
 */
export class LastWriterWins {
  readonly #locks = new KeyedLock();

  constructor(
    private readonly records: RecordStore<unknown>,
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
      const held = (await this.records.get(key)) as { clock?: HlcTimestamp } | undefined;
      if (held?.clock) this.hlc.observe(held.clock);
      return this.#store(key, { ...change(held), clock: at ?? this.hlc.now() }, hooks);
    });
  }

  /**
   * A record from another region stamped `at`: stored when newer than the one held (changeOrder),
   * refused when more than MAX_SKEW_MS ahead of this region's clock.
   */
  async apply<T extends object>(key: string, record: T, at: HlcTimestamp, hooks: Pick<WriteHooks<T>, 'stored'> = {}): Promise<Applied> {
    return this.#locks.run(key, async () => {
      const order = changeOrder(at, await this.#heldClock(key), this.now() + MAX_SKEW_MS);
      if (order === 'ahead') return 'ahead';
      this.hlc.observe(at);
      if (order !== 'newer') return 'stale';
      await this.#store(key, { ...record, clock: at }, hooks);
      return 'stored';
    });
  }

  async #heldClock(key: string): Promise<HlcTimestamp | undefined> {
    return ((await this.records.get(key)) as { clock?: HlcTimestamp } | undefined)?.clock;
  }

  async #store<T>(key: string, record: Clocked<T>, hooks: WriteHooks<T>): Promise<Clocked<T>> {
    await this.records.put(key, record, { events: hooks.events?.(JSON.stringify(record), record.clock) });
    hooks.stored?.(record);
    return record;
  }
}
