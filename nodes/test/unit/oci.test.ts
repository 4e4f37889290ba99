import assert from 'node:assert/strict';
import { parseDigest, digestOf } from '../../src/oci/digest.js';
import { parseName, parseReference, parseTag } from '../../src/oci/names.js';
import { ErrorTable, OciError } from '../../src/oci/errors.js';
import { ociErrorOf } from '../support/errors.js';

describe('oci grammar', () => {
  it('accepts valid digests and rejects malformed or unsupported ones', () => {
    const d = digestOf('x');
    assert.equal(parseDigest(d), d);
    assert.equal(parseDigest(digestOf('x', 'sha512')), digestOf('x', 'sha512'));
    for (const bad of [
      '',
      'sha256',
      'sha256:',
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      `sha256:${'a'.repeat(65)}`,
      'sha256:../../etc',
      42,
    ]) {
      assert.equal(ociErrorOf(() => parseDigest(bad)).code, 'DIGEST_INVALID', String(bad));
    }
  });

  it('validates repository names', () => {
    for (const ok of ['a', 'library/ubuntu', 'a.b_c__d-e/f--g', 'x'.repeat(255)]) assert.equal(parseName(ok), ok);
    for (const bad of ['', 'A', 'a/../b', '..', 'a//b', '/a', 'a/', 'a/../../etc', '-a', 'a_', 'a___b', 'x'.repeat(256), 'a%2fb']) {
      assert.equal(ociErrorOf(() => parseName(bad)).code, 'NAME_INVALID', bad);
    }
  });

  it('parses references as tags or digests', () => {
    assert.deepEqual(parseReference('latest'), { tag: 'latest', digest: undefined });
    const d = digestOf('m');
    assert.deepEqual(parseReference(d), { digest: d, tag: undefined });
    assert.equal(ociErrorOf(() => parseReference('sha256:nothex')).code, 'DIGEST_INVALID');
    assert.equal(ociErrorOf(() => parseReference('.hidden')).code, 'TAG_INVALID');
    assert.equal(ociErrorOf(() => parseTag('x'.repeat(129))).code, 'TAG_INVALID');
    assert.equal(parseTag('V1.2_3-rc'), 'V1.2_3-rc');
  });

  it('has one error table whose entries all map to 4xx or 5xx statuses', () => {
    for (const [kind, e] of Object.entries(ErrorTable)) {
      assert.ok(e.status >= 400 && e.status < 600, kind);
      assert.match(e.code, /^[A-Z_]+$/, kind);
    }
    const err = new OciError('BLOB_UNKNOWN', undefined, { digest: 'x' });
    assert.deepEqual(err.toBody(), { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: 'x' } }] });
  });
});
