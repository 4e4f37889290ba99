import assert from 'node:assert/strict';
import { Lanes, Slots } from '../src/lanes.js';

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('replication lanes and slots', () => {
  it('Slots admits at most its size at once, then waiters in order', async () => {
    const slots = new Slots(2);
    const got: number[] = [];
    await slots.acquire();
    await slots.acquire();
    const waiters = [1, 2].map((n) => slots.acquire().then(() => got.push(n)));
    await Promise.resolve();
    assert.deepEqual(got, []);
    slots.release();
    await waiters[0];
    assert.deepEqual(got, [1]);
    slots.release();
    await waiters[1];
    assert.deepEqual(got, [1, 2]);
    assert.throws(() => new Slots(0), RangeError);
  });

  it('Lanes run one key in order, even after a failure, and other keys alongside', async () => {
    const lanes = new Lanes();
    const log: string[] = [];
    const a1 = gate();
    void lanes.run('a', async () => {
      await a1.opened;
      log.push('a1');
      throw new Error('a1 failed');
    });
    void lanes.run('a', async () => void log.push('a2'));
    await lanes.run('b', async () => void log.push('b1'));
    assert.deepEqual(log, ['b1'], 'b did not wait for a');
    a1.open();
    await lanes.idle();
    assert.deepEqual(log, ['b1', 'a1', 'a2']);
    assert.equal(lanes.size, 0);
  });
});
