/** How old a count of the outbox may be when its depth is read. */
export const OUTBOX_COUNT_MS = 1000;

/**
 * The depth of an outbox several nodes append to and one (the lease's holder) deletes from, as one
 * of them sees it: the last count of the table, at most OUTBOX_COUNT_MS old when read (a read of
 * an older one begins a count, and answers the last figure meanwhile), plus what this node appended
 * and less what it deleted since, so its own changes show at once. A change of this node that
 * completes while a count runs may or may not be in it: appends are added to the count (at worst
 * counted twice until the next count), deletes are not subtracted from it, so the figure errs high,
 * never low, and never for longer than the next count.
 */
export class OutboxDepth {
  #depth = 0;
  #countedAt = -Infinity;
  /** Events this node appended since the running count began (undefined: no count runs). */
  #appendedWhileCounting: number | undefined;

  constructor(private readonly countRows: () => Promise<number>) {}

  get(): number {
    if (this.#appendedWhileCounting === undefined && performance.now() - this.#countedAt >= OUTBOX_COUNT_MS) {
      this.count().catch(() => undefined); // the database unreachable: the last figure stands, and the next read tries again
    }
    return this.#depth;
  }

  /** Count the table now. */
  async count(): Promise<void> {
    this.#appendedWhileCounting = 0;
    try {
      const rows = await this.countRows();
      this.#depth = rows + this.#appendedWhileCounting;
      this.#countedAt = performance.now();
    } finally {
      this.#appendedWhileCounting = undefined;
    }
  }

  appended(events: number): void {
    this.#depth += events;
    if (this.#appendedWhileCounting !== undefined) this.#appendedWhileCounting += events;
  }

  deleted(events: number): void {
    this.#depth = Math.max(0, this.#depth - events);
  }
}
