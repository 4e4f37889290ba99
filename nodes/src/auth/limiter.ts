import { oci } from 'georeg/oci';

/**
 * How failed logins are throttled, on three keys (README "Authentication" states these numbers; a
 * test reads them there and compares).
 *
 * - `pair`, per client address and name: the key a guesser and a misconfigured client hit.
 *   10 failures pass (typos, a client retrying a few times); then after each failure the pair
 *   waits 1 s, doubling up to 15 min (reached at the 20th failure: 2^10 s > 15 min). A guesser
 *   gets ~20 tries in the first 17 minutes, then 4 an hour (~100 a day); a person waits 15
 *   minutes at the most. Its failures are forgotten an hour after the last one (longer than
 *   the cap, so the cap holds), or when the pair logs in.
 * - `name`, per name from any address: slows one name guessed from many addresses. 50
 *   failures (5 pairs' free allowance), then one more a minute: such a guesser gets ~1,440
 *   tries a day, and the name's owner is refused a minute at the most at a time. A leaky
 *   bucket, not a lockout that lasts while failures go on: clients stuck on an old password,
 *   each held by its pair to 4 failures an hour, take 15 of them to fill it.
 * - `address`, per client address across names: a password spray (a few guesses at many
 *   names) from one address. 100 failures, then one more every 30 s (~2,900 a day). A shared
 *   NAT stays open: a stuck client adds 4 failures an hour once its pair is at the cap
 *   (about 20 before), so it takes some 30 of them at once to keep an office out.
 *
 * A correct password logs in unless one of its own keys is locked: a client failing `ci`
 * behind a shared address does not keep `admin` out from there.
 *
 * Failures count when they are known. Attempts still being checked count against what is left of
 * a key's allowance too, but an attempt that finds no room waits for one of them to end instead
 * of being refused: a burst of guesses is checked no further than the allowance (the rest wait,
 * then find the key locked), while a burst of correct logins (a cluster's nodes, a CI job's
 * parallel pulls) waits a moment and logs in.
 */
export const LOGIN_LIMITS = {
  pair: { free: 10, firstWaitMs: 1_000, maxWaitMs: 15 * 60_000, forgetMs: 60 * 60_000 },
  name: { max: 50, drainMs: 60_000 },
  address: { max: 100, drainMs: 30_000 },
} as const;

export interface BackoffPolicy {
  /** Failures that pass before the first wait. */
  free: number;
  firstWaitMs: number;
  maxWaitMs: number;
  /** Failures are forgotten this long after the last one. */
  forgetMs: number;
}

export interface BucketPolicy {
  /** Failures that pass. */
  max: number;
  /** The count drops by one this often: after `max`, one more failure passes per `drainMs`. */
  drainMs: number;
}

type Clock = () => number;

/** A map of at most `capacity` keys: setting a key makes it the newest; the oldest goes first. */
class Recent<V> {
  readonly #map = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value as string);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }
}

/**
 * Failures per key with exponential backoff: `free` pass, then after each the key waits,
 * `firstWaitMs` doubling up to `maxWaitMs`, from the failure. A success forgets the key.
 */
export class Backoff {
  readonly #keys: Recent<{ failures: number; last: number }>;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly now: Clock,
    capacity: number,
  ) {
    this.#keys = new Recent(capacity);
  }

  retryAfterMs(key: string): number {
    const f = this.#live(key);
    const over = f ? f.failures - this.policy.free : -1;
    if (!f || over < 0) return 0;
    const wait = Math.min(this.policy.maxWaitMs, this.policy.firstWaitMs * 2 ** Math.min(over, 40));
    return Math.max(0, f.last + wait - this.now());
  }

  /** How many attempts may be checked at once now: what is left of `free`, and one at a time past it. */
  allowance(key: string): number {
    return Math.max(1, this.policy.free - (this.#live(key)?.failures ?? 0));
  }

  failed(key: string): void {
    this.#keys.set(key, { failures: (this.#live(key)?.failures ?? 0) + 1, last: this.now() });
  }

  succeeded(key: string): void {
    this.#keys.delete(key);
  }

  #live(key: string): { failures: number; last: number } | undefined {
    const f = this.#keys.get(key);
    if (!f || this.now() - f.last <= this.policy.forgetMs) return f;
    this.#keys.delete(key);
    return undefined;
  }
}

/** Failures per key in a leaky bucket: `max` pass, and the count drains by one per `drainMs`. */
export class Bucket {
  readonly #keys: Recent<{ level: number; at: number }>;

  constructor(
    private readonly policy: BucketPolicy,
    private readonly now: Clock,
    capacity: number,
  ) {
    this.#keys = new Recent(capacity);
  }

  retryAfterMs(key: string): number {
    const over = this.#level(key) - (this.policy.max - 1);
    return over > 0 ? Math.ceil(over * this.policy.drainMs) : 0;
  }

  /** How many attempts may be checked at once now: the failures the bucket still holds room for (at least one). */
  allowance(key: string): number {
    return Math.max(1, Math.floor(this.policy.max - this.#level(key)));
  }

  failed(key: string): void {
    this.#keys.set(key, { level: this.#level(key) + 1, at: this.now() });
  }

  #level(key: string): number {
    const b = this.#keys.get(key);
    const level = b ? b.level - (this.now() - b.at) / this.policy.drainMs : 0;
    if (b && level <= 0) this.#keys.delete(key);
    return Math.max(0, level);
  }
}

/** A login under way: say how it ended (`abandoned`: the check itself failed, neither way). */
export interface LoginAttempt {
  succeeded(): void;
  failed(): void;
  abandoned(): void;
}

/** Attempts waiting for room at most, in all: past it a login is refused at once. */
const MAX_WAITING = 1000;

/**
 * Failed logins per (client address, name), per name and per client address (see
 * LOGIN_LIMITS). Memory is bounded: each key kind keeps at most `capacity` keys, oldest evicted
 * (evicting a lock takes a flood of failures the address and name buckets throttle); attempts in
 * progress are counted only while they run, and at most MAX_WAITING wait.
 */
export class LoginThrottle {
  readonly #pairs: Backoff;
  readonly #names: Bucket;
  readonly #addresses: Bucket;
  /** Attempts being checked, per key of each kind ('p' pair, 'n' name, 'a' address). */
  readonly #running = new Map<string, number>();
  readonly #waiting = new Set<() => void>();

  constructor(now: Clock = Date.now, capacity = 100_000) {
    this.#pairs = new Backoff(LOGIN_LIMITS.pair, now, capacity);
    this.#names = new Bucket(LOGIN_LIMITS.name, now, capacity);
    this.#addresses = new Bucket(LOGIN_LIMITS.address, now, capacity);
  }

  /** Seconds until `name` may try to log in from `address` (0: now). */
  retryAfter(address: string, name: string): number {
    const ms = Math.max(
      this.#pairs.retryAfterMs(pairKey(address, name)),
      this.#names.retryAfterMs(name),
      this.#addresses.retryAfterMs(address),
    );
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
  }

  /**
   * A login starts once no key of it is locked and each has room for one more attempt in
   * progress (it waits for room); throws TOO_MANY_REQUESTS with `Retry-After` while one of its
   * keys is locked.
   */
  async begin(address: string, name: string): Promise<LoginAttempt> {
    const pair = pairKey(address, name);
    const keys: [string, { allowance(key: string): number }, string][] = [
      [`p${pair}`, this.#pairs, pair],
      [`n${name}`, this.#names, name],
      [`a${address}`, this.#addresses, address],
    ];
    for (;;) {
      const wait = this.retryAfter(address, name);
      if (wait > 0) throw tooMany(wait);
      if (keys.every(([k, limit, key]) => (this.#running.get(k) ?? 0) < limit.allowance(key))) break;
      if (this.#waiting.size >= MAX_WAITING) throw tooMany(1);
      await new Promise<void>((resolve) => this.#waiting.add(resolve));
    }
    for (const [k] of keys) this.#running.set(k, (this.#running.get(k) ?? 0) + 1);
    let ended = false;
    const end = (outcome: () => void): void => {
      if (ended) return;
      ended = true;
      outcome();
      for (const [k] of keys) {
        const n = (this.#running.get(k) ?? 1) - 1;
        if (n > 0) this.#running.set(k, n);
        else this.#running.delete(k);
      }
      // Every waiter looks again: few wait, and only while attempts run.
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const wake of waiting) wake();
    };
    return {
      abandoned: () => end(() => undefined),
      succeeded: () => end(() => this.#pairs.succeeded(pair)),
      failed: () =>
        end(() => {
          this.#pairs.failed(pair);
          this.#names.failed(name);
          this.#addresses.failed(address);
        }),
    };
  }
}

function tooMany(seconds: number): Error {
  const e = oci('TOO_MANY_REQUESTS', 'too many failed logins; try again later');
  e.headers['Retry-After'] = String(seconds);
  return e;
}

/** Unambiguous: an address holds no newline. */
const pairKey = (address: string, name: string): string => `${address}\n${name}`;
