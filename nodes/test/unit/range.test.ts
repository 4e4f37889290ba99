import assert from 'node:assert/strict';
import { parseContentRange, parseRange } from '../../src/http/range.js';
import { ociErrorOf } from '../support/errors.js';

describe('byte ranges', () => {
  it('parses single ranges against a size', () => {
    assert.equal(parseRange(undefined, 10), undefined);
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=2-100', 10), { start: 2, end: 9 });
  });

  it('reads a last position or suffix too large for a number as "to the end" (RFC 9110 §14.1.2)', () => {
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', 11), { start: 0, end: 10 });
    assert.deepEqual(parseRange('bytes=1-9007199254740993', 11), { start: 1, end: 10 });
    assert.deepEqual(parseRange('bytes=-99999999999999999999', 11), { start: 0, end: 10 });
    // Leading zeros are still small numbers.
    assert.deepEqual(parseRange('bytes=0-00000000000000000001', 100), { start: 0, end: 1 });
    assert.deepEqual(parseRange('bytes=000000000000000000002-', 100), { start: 2, end: 99 });
  });

  it('refuses malformed, multi-part and unsatisfiable ranges with 416', () => {
    for (const bad of ['bytes=10-', 'bytes=5-2', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-0', 'bytes=a-b', 'bytes=99999999999999999-']) {
      assert.equal(ociErrorOf(() => parseRange(bad, 10)).status, 416, bad);
    }
    assert.equal(ociErrorOf(() => parseRange('bytes=0-0', 0)).status, 416);
  });

  it('parses upload Content-Range', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    for (const bad of ['', '5', '9-3', '-1-3', 'a-b', '0-1-2']) assert.equal(ociErrorOf(() => parseContentRange(bad)).status, 416, bad);
  });
});
