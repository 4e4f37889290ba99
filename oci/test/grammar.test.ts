import assert from 'node:assert/strict';
import { digestOf, parseDigest } from '../src/digest.js';
import { isOciError, type ErrorKind } from '../src/errors.js';
import { parseName, parseReference, parseTag } from '../src/names.js';

/** Asserts that `fn` throws the OciError of `kind`. */
function throwsOci(fn: () => unknown, kind: ErrorKind, message?: string): void {
  assert.throws(fn, (e: unknown) => isOciError(e, kind), message);
}

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
      throwsOci(() => parseDigest(bad), 'DIGEST_INVALID', String(bad));
    }
  });

  it('validates repository names', () => {
    for (const ok of ['a', 'library/ubuntu', 'a.b_c__d-e/f--g', 'x'.repeat(255)]) assert.equal(parseName(ok), ok);
    for (const bad of ['', 'A', 'a/../b', '..', 'a//b', '/a', 'a/', 'a/../../etc', '-a', 'a_', 'a___b', 'x'.repeat(256), 'a%2fb']) {
      throwsOci(() => parseName(bad), 'NAME_INVALID', bad);
    }
  });

  it('parses references as tags or digests', () => {
    assert.deepEqual(parseReference('latest'), { tag: 'latest', digest: undefined });
    const d = digestOf('m');
    assert.deepEqual(parseReference(d), { digest: d, tag: undefined });
    throwsOci(() => parseReference('sha256:nothex'), 'DIGEST_INVALID');
    throwsOci(() => parseReference('.hidden'), 'TAG_INVALID');
    throwsOci(() => parseTag('x'.repeat(129)), 'TAG_INVALID');
    assert.equal(parseTag('V1.2_3-rc'), 'V1.2_3-rc');
  });
});
