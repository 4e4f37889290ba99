import assert from 'node:assert/strict';
import { ErrorTable, firstError, isErrorKind, OciError, type ErrorKind } from '../src/errors.js';

const kinds = Object.keys(ErrorTable) as ErrorKind[];

describe('oci error table', () => {
  it('maps every kind to a 4xx or 5xx status, a spec-style code and a gRPC status', () => {
    for (const kind of kinds) {
      const e = ErrorTable[kind];
      assert.ok(e.status >= 400 && e.status < 600, kind);
      assert.match(e.code, /^[A-Z_]+$/, kind);
      assert.ok(['INVALID_ARGUMENT', 'NOT_FOUND', 'OUT_OF_RANGE', 'INTERNAL'].includes(e.grpc), kind);
    }
    assert.ok(isErrorKind('BLOB_UNKNOWN'));
    assert.ok(!isErrorKind('toString') && !isErrorKind(undefined));
  });

  it('names each kind by its code and HTTP status: no two kinds answer alike', () => {
    const answers = kinds.map((k) => `${ErrorTable[k].code} ${ErrorTable[k].status}`);
    assert.equal(new Set(answers).size, kinds.length);
  });

  it('encodes an error as the OCI body', () => {
    const err = new OciError('BLOB_UNKNOWN', undefined, { digest: 'x' });
    assert.deepEqual(err.toBody(), { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: 'x' } }] });
  });

  it('decodes every kind back from its body: same class, kind, code, status, message and detail', () => {
    for (const kind of kinds) {
      for (const detail of [undefined, { digest: 'sha256:x', n: 1 }]) {
        const sent = new OciError(kind, `why ${kind}`, detail);
        const got = OciError.fromBody(sent.status, JSON.parse(JSON.stringify(sent.toBody())));
        assert.ok(got instanceof OciError, kind);
        assert.deepEqual(
          [got.kind, got.code, got.status, got.message, got.detail],
          [sent.kind, sent.code, sent.status, sent.message, sent.detail],
          kind,
        );
      }
    }
  });

  it('decodes no kind from what is not one of its answers', () => {
    assert.equal(OciError.fromBody(404, undefined), undefined);
    assert.equal(OciError.fromBody(404, 'not found'), undefined);
    assert.equal(OciError.fromBody(404, { errors: [] }), undefined);
    assert.equal(OciError.fromBody(404, { errors: [{ message: 'no code' }] }), undefined);
    assert.equal(OciError.fromBody(418, { errors: [{ code: 'TEAPOT' }] }), undefined, "another registry's code");
    assert.equal(OciError.fromBody(400, { errors: [{ code: 'MANIFEST_BLOB_UNKNOWN' }] }), undefined, 'a code at another status');
    // A body without message gets the table's.
    assert.equal(OciError.fromBody(404, { errors: [{ code: 'NAME_UNKNOWN' }] })?.message, ErrorTable.NAME_UNKNOWN.message);
  });

  it("reads the first error of any registry's body", () => {
    assert.deepEqual(firstError({ errors: [{ code: 'TEAPOT', message: 'short and stout', detail: null }, { code: 'X' }] }), {
      code: 'TEAPOT',
      message: 'short and stout',
    });
    assert.deepEqual(firstError({ errors: [{ code: 'X', message: 3, detail: [1] }] }), { code: 'X', detail: [1] });
    assert.equal(firstError({ errors: [null] }), undefined);
  });
});
