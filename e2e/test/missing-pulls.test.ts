import assert from 'node:assert/strict';
import { missingPulls } from './support/chaos/missing-pulls.js';
import type { Pull, Write } from './support/partition/workload.js';

const put = (sent: number, acked?: number): Write => ({
  region: 'eu',
  repo: 'c/r',
  tag: 't',
  shared: false,
  kind: 'put',
  digest: 'sha256:a',
  sent,
  ...(acked !== undefined && { acked }),
});
const del = (sent: number, acked?: number): Write => ({ ...put(sent, acked), kind: 'delete', digest: undefined });
const missing = (start: number, end: number, detail = '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'): Pull => ({
  region: 'us',
  repo: 'c/r',
  tag: 't',
  start,
  end,
  outcome: 'missing',
  detail,
});

describe('chaos checker: which 404s were of acknowledged content', () => {
  it('counts a 404 after an acknowledged put with nothing else in flight, apart when a region could not be asked', () => {
    const r = missingPulls(
      [put(0, 10)],
      [missing(20, 30), missing(40, 50, 'MANIFEST_UNKNOWN; ... and eu could not be asked {"unreachable":["eu"]}')],
    );
    assert.equal(r.unexplained.length, 1);
    assert.equal(r.unreachable.length, 1);
    assert.equal(r.acknowledged, 2);
  });

  it('does not count a 404 when the last acknowledged write was a delete, or before the put was acknowledged', () => {
    assert.equal(missingPulls([put(0, 10), del(12, 15)], [missing(20, 30)]).unexplained.length, 0);
    assert.equal(missingPulls([put(0, 25)], [missing(20, 30)]).unexplained.length, 0);
  });

  it('does not count a 404 that a write in flight or of unknown outcome could explain', () => {
    assert.equal(missingPulls([put(0, 10), del(25, 40)], [missing(20, 30)]).unexplained.length, 0, 'a delete sent during the pull');
    assert.equal(missingPulls([put(0, 10), del(5)], [missing(20, 30)]).unexplained.length, 0, 'a delete never answered');
    assert.equal(missingPulls([del(0, 3), put(5, 10)], [missing(20, 30)]).unexplained.length, 1, 'a delete acknowledged before the put');
    assert.equal(missingPulls([put(0, 10)], [{ ...missing(20, 30), outcome: 'ok' }]).unexplained.length, 0, 'served');
  });
});
