import assert from 'node:assert/strict';
import { compareHlc, HybridClock } from '../../src/hlc.js';

describe('hybrid logical clock', () => {
  it('follows wall time and counts within one millisecond', () => {
    let t = 1000;
    const c = new HybridClock('eu', () => t);
    assert.deepEqual(c.now(), { wallMs: 1000, logical: 0, region: 'eu' });
    assert.deepEqual(c.now(), { wallMs: 1000, logical: 1, region: 'eu' });
    t = 1005;
    assert.deepEqual(c.now(), { wallMs: 1005, logical: 0, region: 'eu' });
  });

  it('never goes backwards when the wall clock does', () => {
    let t = 2000;
    const c = new HybridClock('eu', () => t);
    const a = c.now();
    t = 1500;
    assert.equal(compareHlc(c.now(), a), 1);
  });

  it('orders local events after timestamps observed from a region whose clock runs ahead', () => {
    const c = new HybridClock('us', () => 1000);
    const remote = { wallMs: 9000, logical: 4, region: 'eu' };
    c.observe(remote);
    const next = c.now();
    assert.equal(compareHlc(next, remote), 1);
    assert.equal(next.wallMs, 9000);
  });

  it('breaks exact ties by region id, the same way everywhere', () => {
    const eu = { wallMs: 5, logical: 1, region: 'eu' };
    const us = { wallMs: 5, logical: 1, region: 'us' };
    assert.equal(compareHlc(eu, us), -1);
    assert.equal(compareHlc(us, eu), 1);
    assert.equal(compareHlc(eu, { ...eu }), 0);
    const sorted = [us, eu].sort(compareHlc);
    assert.deepEqual(sorted, [eu, us]);
  });
});
