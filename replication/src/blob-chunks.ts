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
import { makeGenericClientConstructor, type ChannelCredentials, type ClientOptions } from '@grpc/grpc-js';
import { ReplicationService, type BlobChunk, type ReplicationClient } from 'georeg/proto';

const OFFSET_TAG = 0x08; // field 1, varint
const DATA_TAG = 0x12; // field 2, length-delimited
const SIZE_TAG = 0x18; // field 3, varint

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function putVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

let scratch = Buffer.allocUnsafeSlow(0);

/**
 * Fields with their zero value are left out, as proto3 (and the generated encoder) does.
 *
 * The result is a view of one buffer that the next call overwrites: grpc-js copies
 * a serialized response into its frame before serializing anything else
 * (ServerInterceptingCall.serializeMessage), so a chunk costs no allocation here.
 * A grpc-js that kept the buffer would corrupt chunks, which the receiver's
 * digest check rejects; it could not go unnoticed.
 */
export function encodeBlobChunk(chunk: BlobChunk): Buffer {
  const { offset, data, size } = chunk;
  for (const n of [offset, size]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`BlobChunk offsets and sizes are whole bytes, not ${n}`);
  }
  const len =
    (offset ? 1 + varintLength(offset) : 0) + (data.length ? 1 + varintLength(data.length) + data.length : 0) + (size ? 1 + varintLength(size) : 0);
  if (scratch.length < len) scratch = Buffer.allocUnsafeSlow(len);
  const buf = scratch.subarray(0, len);
  let at = 0;
  if (offset) {
    buf[at++] = OFFSET_TAG;
    at = putVarint(buf, at, offset);
  }
  if (data.length) {
    buf[at++] = DATA_TAG;
    at = putVarint(buf, at, data.length);
    buf.set(data, at);
    at += data.length;
  }
  if (size) {
    buf[at++] = SIZE_TAG;
    putVarint(buf, at, size);
  }
  return buf;
}

class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}

  /** A varint of at most 2^53 - 1: larger (or negative int64) values are no byte offsets. */
  varint(): number {
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (this.at >= this.buf.length) throw new Error('BlobChunk: truncated varint');
      const b = this.buf[this.at++];
      n += (b & 0x7f) * scale;
      if (!(b & 0x80)) break;
      if (scale > 2 ** 45) throw new Error('BlobChunk: varint out of range');
    }
    if (!Number.isSafeInteger(n)) throw new Error('BlobChunk: varint out of range');
    return n;
  }

  bytes(): Buffer {
    const len = this.varint();
    if (this.at + len > this.buf.length) throw new Error('BlobChunk: truncated field');
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) this.bytes();
    else if (wireType === 1 || wireType === 5) this.at += wireType === 1 ? 8 : 4;
    else throw new Error(`BlobChunk: unsupported wire type ${wireType}`);
    if (this.at > this.buf.length) throw new Error('BlobChunk: truncated field');
  }
}

/** `data` is a view into `buf`, not a copy. Unknown fields are skipped, as protobuf requires. */
export function decodeBlobChunk(buf: Buffer): BlobChunk {
  const chunk: BlobChunk = { offset: 0, data: Buffer.alloc(0), size: 0 };
  const r = new Reader(buf);
  while (r.at < buf.length) {
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
export const FastReplicationClient = makeGenericClientConstructor(ReplicationDefinition, 'georeg.v1.Replication') as unknown as {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): ReplicationClient;
};
