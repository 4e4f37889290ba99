import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { LOGIN_LIMITS, LoginThrottle } from '../../src/auth/limiter.js';
import type { OciError } from 'georeg/oci';

describe('login throttle', () => {
  let t: number;
  let throttle: LoginThrottle;
  beforeEach(() => {
    t = 1_700_000_000_000;
    throttle = new LoginThrottle(() => t);
  });

  /** A login of `name` from `address` that fails; refused ones throw. */
  const fail = async (address: string, name: string): Promise<void> => (await throttle.begin(address, name)).failed();
  /** `n` failed logins, each once the throttle lets it in: the waits asked for before each, in seconds. */
  async function failWaiting(address: string, name: string, n: number): Promise<number[]> {
    const waits: number[] = [];
    for (let i = 0; i < n; i++) {
      waits.push(throttle.retryAfter(address, name));
      t += waits[i] * 1000;
      await fail(address, name);
    }
    return waits;
  }
  /** Whether `p` has settled by the time every promise already queued has run. */
  const settled = async (p: Promise<unknown>): Promise<boolean> => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  };

  it('lets 10 failures of an address and name pass, then waits after each, doubling from 1 s up to 15 minutes', async () => {
    assert.deepEqual(await failWaiting('10.0.0.1', 'ci', 24), [
      ...Array(10).fill(0),
      1,
      2,
      4,
      8,
      16,
      32,
      64,
      128,
      256,
      512,
      900,
      900,
      900,
      900,
    ]);
    assert.equal(throttle.retryAfter('10.0.0.1', 'ci'), 900);
  });

  it('refuses while waiting with 429 and Retry-After in whole seconds; a refusal does not lengthen the wait', async () => {
    await failWaiting('10.0.0.1', 'ci', 10);
    t += 1;
    const e = await throttle.begin('10.0.0.1', 'ci').then(
      () => assert.fail('let in'),
      (err: unknown) => err as OciError,
    );
    assert.equal(e.status, 429);
    assert.equal(e.code, 'TOOMANYREQUESTS');
    assert.equal(e.headers['Retry-After'], '1');
    t += 998;
    assert.equal(throttle.retryAfter('10.0.0.1', 'ci'), 1);
    t += 1;
    assert.equal(throttle.retryAfter('10.0.0.1', 'ci'), 0);
  });

  it('forgets an address and name an hour after its last failure, and at a success', async () => {
    await failWaiting('10.0.0.1', 'ci', 15);
    t += 60 * 60_000 + 1;
    assert.deepEqual(await failWaiting('10.0.0.1', 'ci', 11), [...Array(10).fill(0), 1]);
    t += 2000;
    (await throttle.begin('10.0.0.1', 'ci')).succeeded();
    assert.deepEqual(await failWaiting('10.0.0.1', 'ci', 11), [...Array(10).fill(0), 1]);
  });

  it('lets another name in from an address where one name is locked', async () => {
    await failWaiting('10.0.0.1', 'ci', 20);
    assert.ok(throttle.retryAfter('10.0.0.1', 'ci') > 0);
    assert.equal(throttle.retryAfter('10.0.0.1', 'admin'), 0);
    (await throttle.begin('10.0.0.1', 'admin')).succeeded();
  });

  /** `n` failures, from `failure(i)`: then `locked` waits `seconds` and `open` not at all; once waited, one more of `locked` fails and the wait is back. */
  async function fillBucket(
    n: number,
    failure: (i: number) => [string, string],
    locked: [string, string],
    open: [string, string],
    seconds: number,
  ): Promise<void> {
    for (let i = 0; i < n; i++) await fail(...failure(i));
    assert.equal(throttle.retryAfter(...locked), seconds);
    assert.equal(throttle.retryAfter(...open), 0);
    t += seconds * 1000;
    await fail(...locked);
    assert.equal(throttle.retryAfter(...locked), seconds);
  }

  it('per name, from any address: 50 failures, then one more a minute', async () => {
    await fillBucket(50, (i) => [`10.0.0.${i % 10}`, 'admin'], ['10.9.9.9', 'admin'], ['10.0.0.1', 'ci'], 60);
  });

  it('per address, across names: 100 failures, then one more every 30 s', async () => {
    await fillBucket(100, (i) => ['10.0.0.1', `user${i}`], ['10.0.0.1', 'admin'], ['10.0.0.2', 'user1'], 30);
  });

  it('checks no more attempts at once than a key has failures left: a burst of guesses waits, then finds the key locked', async () => {
    const first = await Promise.all(Array.from({ length: 10 }, () => throttle.begin('10.0.0.1', 'ci')));
    const rest = Array.from({ length: 30 }, () => throttle.begin('10.0.0.1', 'ci'));
    assert.equal(await settled(Promise.race(rest)), false, 'the 11th waits while 10 are checked');
    for (const a of first) a.failed();
    for (const r of rest)
      assert.equal(
        (
          await r.then(
            () => assert.fail('let in'),
            (e: unknown) => e as OciError,
          )
        ).headers['Retry-After'],
        '1',
      );
  });

  it('lets a burst of correct logins of one name from one address in, each once there is room', async () => {
    const attempts = Array.from({ length: 40 }, () => throttle.begin('10.0.0.1', 'ci'));
    let admitted = 0;
    for (const a of attempts) {
      (await a).succeeded();
      admitted++;
    }
    assert.equal(admitted, 40);
    // A spray across names from one address: 100 in progress, then the 101st waits; a success lets it in.
    const spray = await Promise.all(Array.from({ length: 100 }, (_, i) => throttle.begin('10.0.0.2', `user${i}`)));
    const next = throttle.begin('10.0.0.2', 'admin');
    assert.equal(await settled(next), false);
    spray[0]?.succeeded();
    (await next).succeeded();
    for (const a of spray.slice(1)) a.abandoned();
    assert.equal(throttle.retryAfter('10.0.0.2', 'admin'), 0, 'abandoned checks count as nothing');
  });

  it('keeps at most `capacity` keys of each kind, the oldest evicted', async () => {
    throttle = new LoginThrottle(() => t, 2);
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) await failWaiting(address, 'ci', 10);
    assert.deepEqual(
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((a) => throttle.retryAfter(a, 'ci')),
      [0, 1, 1],
    );
  });

  it('states the numbers of LOGIN_LIMITS in the README', async () => {
    const readme = (await readFile(new URL('../../../../README.md', import.meta.url), 'utf8')).replace(/\s+/g, ' ');
    const numbers = (re: RegExp): number[] => {
      const m = re.exec(readme);
      assert.ok(m, `the README says nothing like ${re}`);
      return m.slice(1).map(Number);
    };
    const { pair, name, address } = LOGIN_LIMITS;
    assert.deepEqual(
      numbers(
        /Per client address and name: (\d+) failures, then a wait after each failure that doubles from (\d+) seconds? up to (\d+) minutes; forgotten (\d+) minutes after the last failure/,
      ),
      [pair.free, pair.firstWaitMs / 1000, pair.maxWaitMs / 60_000, pair.forgetMs / 60_000],
    );
    assert.deepEqual(numbers(/Per name, from any address: (\d+) failures, then one more every (\d+) seconds/), [
      name.max,
      name.drainMs / 1000,
    ]);
    assert.deepEqual(numbers(/Per client address, across names \(a password spray\): (\d+) failures, then one more every (\d+) seconds/), [
      address.max,
      address.drainMs / 1000,
    ]);
  });
});
