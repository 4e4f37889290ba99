import { KeyedLock } from '../keyed-lock.js';
import type { RecordStore } from '../meta/store.js';
import { compareHlc, type HlcTimestamp, type HybridClock } from '../hlc.js';
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
 * object per key carrying the hybrid-logical-clock time of its last change. The
 * clocks are compared in the store's own step of the write (RecordStore.put's
 * `wins`), serialised per key in whichever process writes, so concurrent
 * writers (local changes, each peer's replication lanes, the other nodes of a
 * region sharing one database) cannot store an older record over a newer one.
 * In this process a key's changes also run one at a time, so what an owner
 * holds in memory (`stored`) follows the store's order. Owners validate a
 * record's contents before handing it here.
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
   * JSON, undefined when none); it may throw to refuse. Stored only over the
   * record it was made from: when another node changed it meanwhile, the change
   * is made again from that one. Stamped `at`, or else later than both this
   * region's clock and the record held (whatever this region's clock said).
   */
  write<T extends object>(key: string, change: (held: unknown) => T, at?: HlcTimestamp, hooks: WriteHooks<T> = {}): Promise<Clocked<T>> {
    return this.#locks.run(key, async () => {
      for (;;) {
        const held = await this.records.get(key);
        const clock = clockOf(held);
        if (clock) this.hlc.observe(clock);
        const record = { ...change(held), clock: at ?? this.hlc.now() };
        if (await this.#store(key, record, hooks, (now) => sameClock(clockOf(now), clock))) return record;
      }
    });
  }

  /**
   * A record from another region stamped `at`: stored when newer than the one held (changeOrder),
   * refused when more than MAX_SKEW_MS ahead of this region's clock.
   */
  async apply<T extends object>(key: string, record: T, at: HlcTimestamp, hooks: Pick<WriteHooks<T>, 'stored'> = {}): Promise<Applied> {
    return this.#locks.run(key, async () => {
      if (changeOrder(at, undefined, this.now() + MAX_SKEW_MS) === 'ahead') return 'ahead';
      this.hlc.observe(at);
      const stored = await this.#store(key, { ...record, clock: at }, hooks, (held) => changeOrder(at, clockOf(held)) === 'newer');
      return stored ? 'stored' : 'stale';
    });
  }

  /** Store `record` when `wins` says so of the record held, in the store's step of the write; false when it did not. */
  async #store<T>(key: string, record: Clocked<T>, hooks: WriteHooks<T>, wins: (held: unknown) => boolean): Promise<boolean> {
    if (!(await this.records.put(key, record, { events: hooks.events?.(JSON.stringify(record), record.clock), wins }))) return false;
    hooks.stored?.(record);
    return true;
  }
}

function clockOf(record: unknown): HlcTimestamp | undefined {
  return (record as { clock?: HlcTimestamp } | undefined)?.clock;
}

function sameClock(a: HlcTimestamp | undefined, b: HlcTimestamp | undefined): boolean {
  return a === undefined || b === undefined ? a === b : compareHlc(a, b) === 0;
}
