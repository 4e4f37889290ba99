import assert from 'node:assert/strict';
import { ErrorTable, OciError } from '../src/errors.js';

describe('oci error table', () => {
  it('has one error table whose entries all map to 4xx or 5xx statuses', () => {
    for (const [kind, e] of Object.entries(ErrorTable)) {
      assert.ok(e.status >= 400 && e.status < 600, kind);
      assert.match(e.code, /^[A-Z_]+$/, kind);
    }
    const err = new OciError('BLOB_UNKNOWN', undefined, { digest: 'x' });
    assert.deepEqual(err.toBody(), { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: 'x' } }] });
  });
});
