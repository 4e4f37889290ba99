import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobChunk, IngestPart } from 'georeg/proto';
import { decodeBlobChunk, encodeBlobChunk } from '../src/blob-chunks.js';
import { decodeIngestPart, encodeIngestPart } from '../src/ingest-parts.js';

const generated = (c: BlobChunk): Buffer => Buffer.from(BlobChunk.encode(c).finish());
/** encodeBlobChunk's result is overwritten by its next call: keep a copy. */
const encoded = (c: BlobChunk): Buffer => Buffer.from(encodeBlobChunk(c));

describe('replication: BlobChunk codec by hand', () => {
  const cases: BlobChunk[] = [
    { offset: 0, data: randomBytes(100), size: 100 },
    { offset: 0, data: Buffer.alloc(0), size: 0 },
    { offset: 2 ** 40 + 3, data: randomBytes(1024 * 1024), size: 0 },
    { offset: 127, data: randomBytes(128), size: 2 ** 53 - 1 },
    { offset: 16384, data: Buffer.alloc(0), size: 16384 },
  ];

  it('writes exactly the bytes of the generated encoder', () => {
    for (const c of cases) assert.ok(encoded(c).equals(generated(c)), `offset ${c.offset}, ${c.data.length} bytes, size ${c.size}`);
  });

  it('reads what the generated encoder writes, with the data as a view of the message (no copy)', () => {
    for (const c of cases) {
      const wire = generated(c);
      const got = decodeBlobChunk(wire);
      assert.equal(got.offset, c.offset);
      assert.equal(got.size, c.size);
      assert.ok(Buffer.from(got.data).equals(c.data));
      if (c.data.length) assert.equal(got.data.buffer, wire.buffer);
    }
  });

  it('skips unknown fields and takes fields in any order, as protobuf requires', () => {
    const data = randomBytes(10);
    const wire = Buffer.concat([
      Buffer.from([0x18, 0x0a]), // size = 10 first
      Buffer.from([0x20, 0x96, 0x01]), // field 4, varint 150 (unknown)
      Buffer.from([0x2a, 0x02, 0xff, 0xff]), // field 5, two bytes (unknown)
      Buffer.from([0x31, 1, 2, 3, 4, 5, 6, 7, 8]), // field 6, fixed64 (unknown)
      Buffer.from([0x3d, 1, 2, 3, 4]), // field 7, fixed32 (unknown)
      Buffer.from([0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // field 8, int64 -1 (unknown)
      Buffer.from([0x12, 0x0a]),
      data,
      Buffer.from([0x08, 0x05]), // offset = 5 last
    ]);
    const got = decodeBlobChunk(wire);
    assert.deepEqual({ offset: got.offset, size: got.size }, { offset: 5, size: 10 });
    assert.ok(Buffer.from(got.data).equals(data));
  });

  it('refuses truncated messages, offsets beyond 2^53 and negative int64s', () => {
    assert.throws(() => decodeBlobChunk(Buffer.from([0x08, 0x80])), /truncated varint/);
    assert.throws(() => decodeBlobChunk(Buffer.from([0x12, 0x05, 1, 2])), /truncated field/);
    assert.throws(() => decodeBlobChunk(Buffer.from([0x31, 1, 2])), /truncated field/);
    const negative = generated({ offset: -1, data: Buffer.alloc(0), size: 0 });
    assert.throws(() => decodeBlobChunk(negative), /out of range/);
    assert.throws(() => decodeBlobChunk(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), /out of range/);
    assert.throws(() => decodeBlobChunk(Buffer.from([0x0b])), /wire type 3/);
  });

  it('refuses to write offsets or sizes that are not whole non-negative numbers', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) {
      assert.throws(() => encodeBlobChunk({ offset: bad, data: Buffer.alloc(0), size: 0 }), RangeError);
      assert.throws(() => encodeBlobChunk({ offset: 0, data: Buffer.alloc(0), size: bad }), RangeError);
    }
  });
});

describe('replication: IngestPart codec by hand', () => {
  const cases: IngestPart[] = [
    { repository: 'team/app', digest: `sha256:${'a'.repeat(64)}`, data: Buffer.alloc(0), abort: false },
    { repository: '', digest: '', data: randomBytes(1024 * 1024 + 1), abort: false },
    { repository: '', digest: '', data: Buffer.alloc(0), abort: true },
    { repository: 'ünïcode/naïve', digest: 'd', data: randomBytes(3), abort: true },
  ];

  it('writes exactly the bytes of the generated encoder', () => {
    for (const c of cases)
      assert.ok(encodeIngestPart(c).equals(Buffer.from(IngestPart.encode(c).finish())), JSON.stringify({ ...c, data: c.data.length }));
  });

  it('reads what the generated encoder writes, with the data as a view (no copy), skipping unknown fields', () => {
    for (const c of cases) {
      const wire = Buffer.concat([Buffer.from(IngestPart.encode(c).finish()), Buffer.from([0x28, 0x07])]); // + field 5, varint
      const got = decodeIngestPart(wire);
      assert.deepEqual({ ...got, data: Buffer.from(got.data) }, { ...c, data: Buffer.from(c.data) });
      if (c.data.length) assert.equal(got.data.buffer, wire.buffer);
    }
  });

  it('refuses a truncated part', () => {
    assert.throws(() => decodeIngestPart(Buffer.from([0x1a, 0x09, 1, 2, 3])), /IngestPart: truncated field/);
  });
});
