/**
 * The BlobChunk wire codec for ReadBlob, by hand, and the Replication service
 * definition that uses it.
 *
 * The generated codec costs four copies and as many allocations per chunk
 * (BinaryWriter's chunk list, `finish()`, `Buffer.from` on each side); on a 1 GiB
 * blob that was most of a sending node's CPU, in copying and garbage collection.
 * This one writes a chunk with one copy into a reused buffer, and reads one
 * without copying its data. The bytes on the wire are the same protobuf message
 * (proto/georeg/v1/replication.proto; a test compares both codecs), so a peer
 * built on the generated code interoperates.
 */
import { ReplicationService, type BlobChunk, type ReplicationClient } from 'georeg/proto';
import { clientClass } from './grpc-calls.js';
import { delimitedLength, putDelimited, putVarint, varintLength, WireReader } from './wire.js';

const OFFSET_TAG = 0x08; // field 1, varint
const DATA_TAG = 0x12; // field 2, length-delimited
const SIZE_TAG = 0x18; // field 3, varint

let scratch = Buffer.allocUnsafeSlow(0);

/**
 * Fields with their zero value are left out, as proto3 (and the generated encoder) does.
 *
 * The result is a view of one buffer that the next call overwrites: grpc-js copies
 * a serialized response into its frame before serializing anything else
 * (BaseServerInterceptingCall.serializeMessage), so a chunk costs no allocation here.
 * A grpc-js that kept the buffer would corrupt chunks, which the receiver's
 * digest check rejects, and replication/test/server.test.ts fails (it checks
 * a streamed blob's digest); it could not go unnoticed.
 */
export function encodeBlobChunk(chunk: BlobChunk): Buffer {
  const { offset, data, size } = chunk;
  for (const n of [offset, size]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`BlobChunk offsets and sizes are whole bytes, not ${n}`);
  }
  const len =
    (offset ? 1 + varintLength(offset) : 0) + (data.length ? delimitedLength(data.length) : 0) + (size ? 1 + varintLength(size) : 0);
  if (scratch.length < len) scratch = Buffer.allocUnsafeSlow(len);
  const buf = scratch.subarray(0, len);
  let at = 0;
  if (offset) {
    buf[at++] = OFFSET_TAG;
    at = putVarint(buf, at, offset);
  }
  if (data.length) at = putDelimited(buf, at, DATA_TAG, data);
  if (size) {
    buf[at++] = SIZE_TAG;
    putVarint(buf, at, size);
  }
  return buf;
}

/** `data` is a view into `buf`, not a copy. Unknown fields are skipped, as protobuf requires. */
export function decodeBlobChunk(buf: Buffer): BlobChunk {
  const chunk: BlobChunk = { offset: 0, data: Buffer.alloc(0), size: 0 };
  const r = new WireReader(buf, 'BlobChunk');
  while (!r.done) {
    const tag = r.varint();
    if (tag === OFFSET_TAG) chunk.offset = r.varint();
    else if (tag === DATA_TAG) chunk.data = r.bytes();
    else if (tag === SIZE_TAG) chunk.size = r.varint();
    else r.skip(tag & 7);
  }
  return chunk;
}

/** The generated service definition with ReadBlob's responses on this codec. */
export const ReplicationDefinition = {
  ...ReplicationService,
  readBlob: { ...ReplicationService.readBlob, responseSerialize: encodeBlobChunk, responseDeserialize: decodeBlobChunk },
} as const;

/** A Replication client that reads blob chunks with this codec; otherwise the generated client. */
export const FastReplicationClient = clientClass<ReplicationClient>(ReplicationDefinition, 'georeg.v1.Replication');
