import assert from 'node:assert/strict';
import { changeOrder } from '../../src/events/change-order.js';

const at = (wallMs: number, logical = 0, region = 'eu') => ({ wallMs, logical, region });

describe('changeOrder: last writer wins, for tags and the named record stores', () => {
  it('a newer change applies, the same clock is a replay, an older one lost (wall time, then logical, then region)', () => {
    assert.equal(changeOrder(at(2), at(1)), 'newer');
    assert.equal(changeOrder(at(1, 1), at(1, 0)), 'newer');
    assert.equal(changeOrder(at(1, 0, 'us'), at(1, 0, 'eu')), 'newer');
    assert.equal(changeOrder(at(1), at(1)), 'replay');
    assert.equal(changeOrder(at(1), at(2)), 'older');
    assert.equal(changeOrder(at(1, 0, 'ap'), at(1, 0, 'eu')), 'older');
  });

  it('a change or a held state without a clock cannot be ordered: the change applies', () => {
    assert.equal(changeOrder(at(1), undefined), 'newer');
    assert.equal(changeOrder(undefined, at(1)), 'newer');
    assert.equal(changeOrder(undefined, undefined), 'newer');
  });

  it('refuses a change stamped after the latest wall time allowed, whatever is held; none is refused without a bound', () => {
    assert.equal(changeOrder(at(1001), undefined, 1000), 'ahead');
    assert.equal(changeOrder(at(1001), at(5), 1000), 'ahead');
    assert.equal(changeOrder(at(1000), at(5), 1000), 'newer');
    assert.equal(changeOrder(at(Number.MAX_SAFE_INTEGER), at(5)), 'newer');
  });
});
