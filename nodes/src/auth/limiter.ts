/**
 * Login attempts per key (a client address, an identity name): an attempt
 * counts from the moment it starts, so a burst of concurrent guesses is
 * refused as soon as `max` of them are in flight or failed, instead of all
 * being checked; a success takes its own count back. A key that reached `max`
 * within `windowMs` is refused until the window has passed since its last
 * failure. Bounded: the oldest keys go first.
 */
export class LoginLimiter {
  readonly #counts = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly max = 10,
    private readonly windowMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly capacity = 100_000,
  ) {}

  /** Seconds until `key` may try again (0: now). */
  retryAfter(key: string): number {
    const t = this.now();
    const f = this.#counts.get(key);
    if (!f) return 0;
    if (t - f.last > this.windowMs) {
      this.#counts.delete(key);
      return 0;
    }
    return f.count >= this.max ? Math.max(1, Math.ceil((f.last + this.windowMs - t) / 1000)) : 0;
  }

  /** An attempt starts: it counts as a failure until `succeeded` says otherwise. */
  begin(key: string): void {
    const t = this.now();
    const f = this.#counts.get(key);
    const count = f && t - f.last <= this.windowMs ? f.count + 1 : 1;
    this.#counts.delete(key);
    this.#counts.set(key, { count, last: t });
    if (this.#counts.size > this.capacity) this.#counts.delete(this.#counts.keys().next().value as string);
  }

  /** The attempt begun for `key` succeeded: take its count back. */
  succeeded(key: string): void {
    const f = this.#counts.get(key);
    if (!f) return;
    if (f.count <= 1) this.#counts.delete(key);
    else f.count--;
  }
}
