import { oci } from '../oci/errors.js';

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
 * `firstWaitMs` doubling up to `maxWaitMs`, from when the failure was known. An attempt counts
 * from `begin`; a success forgets the key.
 */
export class Backoff {
  readonly #keys: Recent<{ failures: number; last: number }>;

  constructor(private readonly policy: BackoffPolicy, private readonly now: Clock, capacity: number) {
    this.#keys = new Recent(capacity);
  }

  retryAfterMs(key: string): number {
    const f = this.#live(key);
    const over = f ? f.failures - this.policy.free : -1;
    if (!f || over < 0) return 0;
    const wait = Math.min(this.policy.maxWaitMs, this.policy.firstWaitMs * 2 ** Math.min(over, 40));
    return Math.max(0, f.last + wait - this.now());
  }

  begin(key: string): void {
    this.#keys.set(key, { failures: (this.#live(key)?.failures ?? 0) + 1, last: this.now() });
  }

  failed(key: string): void {
    const f = this.#keys.get(key);
    if (f) f.last = this.now();
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

/** Failures per key in a leaky bucket: `max` pass, and the count drains by one per `drainMs`. An attempt counts from `begin`; a success takes it back. */
export class Bucket {
  readonly #keys: Recent<{ level: number; at: number }>;

  constructor(private readonly policy: BucketPolicy, private readonly now: Clock, capacity: number) {
    this.#keys = new Recent(capacity);
  }

  retryAfterMs(key: string): number {
    const over = this.#level(key) - (this.policy.max - 1);
    return over > 0 ? over * this.policy.drainMs : 0;
  }

  begin(key: string): void {
    this.#keys.set(key, { level: this.#level(key) + 1, at: this.now() });
  }

  succeeded(key: string): void {
    const level = this.#level(key) - 1;
    if (level > 0) this.#keys.set(key, { level, at: this.now() });
    else this.#keys.delete(key);
  }

  #level(key: string): number {
    const b = this.#keys.get(key);
    const level = b ? b.level - (this.now() - b.at) / this.policy.drainMs : 0;
    if (b && level <= 0) this.#keys.delete(key);
    return Math.max(0, level);
  }
}

/** A login under way: say how it ended. */
export interface LoginAttempt {
  succeeded(): void;
  failed(): void;
}

/**
 * Failed logins per (client address, name), per name and per client address (see
 * LOGIN_LIMITS). An attempt counts as a failure on all three from the moment it starts, so a
 * burst of concurrent guesses is refused once the limit is in flight instead of all being
 * checked. Memory is bounded: each key kind keeps at most `capacity` keys, oldest evicted
 * (evicting a lock takes a flood of failures the address and name buckets throttle).
 */
export class LoginThrottle {
  readonly #pairs: Backoff;
  readonly #names: Bucket;
  readonly #addresses: Bucket;

  constructor(now: Clock = Date.now, capacity = 100_000) {
    this.#pairs = new Backoff(LOGIN_LIMITS.pair, now, capacity);
    this.#names = new Bucket(LOGIN_LIMITS.name, now, capacity);
    this.#addresses = new Bucket(LOGIN_LIMITS.address, now, capacity);
  }

  /** Seconds until `name` may try to log in from `address` (0: now). */
  retryAfter(address: string, name: string): number {
    const ms = Math.max(this.#pairs.retryAfterMs(pairKey(address, name)), this.#names.retryAfterMs(name), this.#addresses.retryAfterMs(address));
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
  }

  /** A login starts; throws TOO_MANY_REQUESTS with `Retry-After` while one of its keys is locked. */
  begin(address: string, name: string): LoginAttempt {
    const wait = this.retryAfter(address, name);
    if (wait > 0) {
      const e = oci('TOO_MANY_REQUESTS', 'too many failed logins; try again later');
      e.headers['Retry-After'] = String(wait);
      throw e;
    }
    const pair = pairKey(address, name);
    this.#pairs.begin(pair);
    this.#names.begin(name);
    this.#addresses.begin(address);
    return {
      succeeded: () => {
        this.#pairs.succeeded(pair);
        this.#names.succeeded(name);
        this.#addresses.succeeded(address);
      },
      failed: () => this.#pairs.failed(pair),
    };
  }
}

/** Unambiguous: an address holds no newline. */
const pairKey = (address: string, name: string): string => `${address}\n${name}`;
