/**
 * Failed logins per key (client address, identity name): after `max` failures
 * within `windowMs`, the key is refused until the window has passed since the
 * last failure. A success clears the key. Bounded: the oldest keys go first.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly max = 10,
    private readonly windowMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly capacity = 100_000,
  ) {}

  /** Seconds until `keys` may try again (0: now). */
  retryAfter(keys: string[]): number {
    const t = this.now();
    let wait = 0;
    for (const k of keys) {
      const f = this.#failures.get(k);
      if (!f) continue;
      if (t - f.last > this.windowMs) this.#failures.delete(k);
      else if (f.count >= this.max) wait = Math.max(wait, Math.ceil((f.last + this.windowMs - t) / 1000));
    }
    return wait;
  }

  failed(keys: string[]): void {
    const t = this.now();
    for (const k of keys) {
      const f = this.#failures.get(k);
      const count = f && t - f.last <= this.windowMs ? f.count + 1 : 1;
      this.#failures.delete(k);
      this.#failures.set(k, { count, last: t });
      if (this.#failures.size > this.capacity) this.#failures.delete(this.#failures.keys().next().value as string);
    }
  }

  succeeded(keys: string[]): void {
    for (const k of keys) this.#failures.delete(k);
  }
}
