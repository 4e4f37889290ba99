/**
 * The IngestPart wire codec for IngestBlob (a replicate process streaming a
 * blob into its node over the region store socket), by hand, and the RegionStore
 * service definition that uses it. Same reasons and same bytes as blob-chunks.ts:
 * the generated codec copies each part four times; this one writes a part with
 * one allocation and one copy and reads it without copying its data.
 */
import { RegionStoreService, type IngestPart, type RegionStoreClient } from 'georeg/proto';
import { clientClass } from './grpc-calls.js';
import { delimitedLength, putDelimited, WireReader } from './wire.js';

const REPOSITORY_TAG = 0x0a; // field 1, length-delimited
const DIGEST_TAG = 0x12; // field 2, length-delimited
const DATA_TAG = 0x1a; // field 3, length-delimited
const ABORT_TAG = 0x20; // field 4, varint

/**
 * A new buffer per part: grpc-js may hold a client's serialized message until
 * the call is connected, so it cannot be reused. Empty fields are left out.
 */
export function encodeIngestPart(part: IngestPart): Buffer {
  const repository = Buffer.from(part.repository, 'utf8');
  const digest = Buffer.from(part.digest, 'utf8');
  const fields: [number, Uint8Array][] = [
    [REPOSITORY_TAG, repository],
    [DIGEST_TAG, digest],
    [DATA_TAG, part.data],
  ];
  const present = fields.filter(([, bytes]) => bytes.length > 0);
  const len = present.reduce((n, [, bytes]) => n + delimitedLength(bytes.length), 0) + (part.abort ? 2 : 0);
  const buf = Buffer.allocUnsafe(len);
  let at = 0;
  for (const [tag, bytes] of present) at = putDelimited(buf, at, tag, bytes);
  if (part.abort) buf.set([ABORT_TAG, 1], at);
  return buf;
}

/** `data` is a view into `buf`, not a copy. Unknown fields are skipped, as protobuf requires. */
export function decodeIngestPart(buf: Buffer): IngestPart {
  const part: IngestPart = { repository: '', digest: '', data: Buffer.alloc(0), abort: false };
  const r = new WireReader(buf, 'IngestPart');
  while (!r.done) {
    const tag = r.varint();
    if (tag === REPOSITORY_TAG) part.repository = r.bytes().toString('utf8');
    else if (tag === DIGEST_TAG) part.digest = r.bytes().toString('utf8');
    else if (tag === DATA_TAG) part.data = r.bytes();
    else if (tag === ABORT_TAG) part.abort = r.varint() !== 0;
    else r.skip(tag & 7);
  }
  return part;
}

/** The generated service definition with IngestBlob's parts on this codec. */
export const RegionStoreDefinition = {
  ...RegionStoreService,
  ingestBlob: { ...RegionStoreService.ingestBlob, requestSerialize: encodeIngestPart, requestDeserialize: decodeIngestPart },
} as const;

/** A RegionStore client that sends blob parts with this codec; otherwise the generated client. */
export const FastRegionStoreClient = clientClass<RegionStoreClient>(RegionStoreDefinition, 'georeg.v1.RegionStore');
