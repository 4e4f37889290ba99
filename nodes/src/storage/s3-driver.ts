/**
 * S3 driver (BlobStore and UploadStaging) over one bucket of AWS S3 or an S3-compatible store, every
 * key under an optional prefix, laid out as the fs driver's root is:
 *
 *   blobs/<alg>/<first two hex>/<hex>   committed blobs, immutable, e.g. blobs/sha256/ab/ab12…(64 hex)
 *   uploads/<id>/<offset>               upload staging, in pieces (s3-pieces.ts)
 *
 * An upload's state lives in the bucket, never in the process, so any node (any instance of this
 * driver) continues it by id. A commit makes the pieces one object under the digest by a multipart
 * upload, hashing the bytes on their way and completing it only when they hash to the digest
 * (s3-assemble.ts): nothing half-written, and nothing but the verified bytes, is ever visible.
 *
 * Fast path: the instance that made every append of an upload keeps its running SHA-256 (valid while
 * the upload's size and last piece's ETag are what its last append left), so a digest costs no read
 * back; otherwise (another node appended, or SHA-512) the pieces are read and hashed.
 *
 * Two appends to one upload at once from two nodes are not refused (S3's conditional writes are not
 * in every S3-compatible store, nor in s3rver): their bytes can mix, and the commit's hash then
 * refuses the upload.
 */
import type { Readable, Writable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { oci, type Algorithm, type Digest } from 'georeg/oci';
import type { BlobInfo, BlobStore, ByteRange, SignedBlobUrls, UploadInfo, UploadStaging } from './driver.js';
import { blobUnknown, checkRange, uploadUnknown } from './checks.js';
import { BLOBS, blobName, digestNamed } from './blob-names.js';
import { bufferOf, streamInto } from './copy.js';
import { objects, openObject, type Bucket } from './s3-objects.js';
import { appendPieces, hashPieces, listPieces, pieceKey, pieceNamed, sizeOf, UPLOADS, versionOf, type Piece } from './s3-pieces.js';
import { assemble } from './s3-assemble.js';
import { orAbsent, statusOf } from './s3-answers.js';
import { cutTo, served } from './s3-ranges.js';
import { RunningHashes } from './running-hashes.js';

export interface S3DriverOptions {
  /** Size of an upload's pieces, so of its multipart upload's parts (default 8 MiB, at least S3's 5 MiB); an append holds at most two. */
  pieceBytes?: number;
}

/** S3's smallest part (but the last) of a multipart upload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
const PIECE_BYTES = 8 * 1024 * 1024;
/** Keys one DeleteObjects request takes at most. */
const DELETE_BATCH = 1000;

export class S3BlobDriver implements BlobStore, UploadStaging, SignedBlobUrls {
  readonly #bucket: Bucket;
  readonly #pieceBytes: number;
  readonly #appended = new RunningHashes();

  constructor(bucket: Bucket, { pieceBytes = PIECE_BYTES }: Pick<S3DriverOptions, 'pieceBytes'> = {}) {
    if (pieceBytes < MIN_PART_BYTES) throw new RangeError(`pieceBytes ${pieceBytes}: S3 parts are at least ${MIN_PART_BYTES} bytes`);
    this.#bucket = bucket;
    this.#pieceBytes = pieceBytes;
  }

  /** The driver over `bucket`, once S3 answered that it is there and reachable with these credentials. */
  static async open(bucket: Bucket, options: Pick<S3DriverOptions, 'pieceBytes'> = {}): Promise<S3BlobDriver> {
    await bucket.client.send(new HeadBucketCommand({ Bucket: bucket.name }));
    return new S3BlobDriver(bucket, options);
  }

  async stat(digest: Digest): Promise<number | undefined> {
    const head = await orAbsent(this.#bucket.client.send(new HeadObjectCommand({ Bucket: this.#bucket.name, Key: this.#blobKey(digest) })));
    return head && (head.ContentLength ?? 0);
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const key = this.#blobKey(digest);
    if (range) checkRange(range, Number.MAX_SAFE_INTEGER); // its shape now, its end once the size is known
    let res;
    try {
      res = await openObject(this.#bucket, key, range && `bytes=${range.start}-${range.end}`);
    } catch (e) {
      if (statusOf(e) === 404) throw blobUnknown(digest);
      if (statusOf(e) === 416) throw oci('RANGE_INVALID', undefined, { ...range }); // starts past the end
      throw e;
    }
    if (!range) return res.body;
    const had = served(res.contentRange, res.length);
    try {
      checkRange(range, had.size); // S3 serves a range ending past the blob up to its end: refused here
    } catch (e) {
      res.body.destroy();
      throw e;
    }
    return cutTo(res.body, had, range);
  }

  async writeTo(digest: Digest, sink: Writable, range?: ByteRange): Promise<void> {
    await streamInto(await this.read(digest, range), sink);
  }

  async readAll(digest: Digest): Promise<Buffer> {
    return bufferOf(await this.read(digest));
  }

  async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    if ((await this.stat(digest)) !== undefined) return;
    // One PutObject: all or nothing. Two at once write the same bytes.
    await this.#bucket.client.send(
      new PutObjectCommand({ Bucket: this.#bucket.name, Key: this.#blobKey(digest), Body: bytes, ContentLength: bytes.length }),
    );
  }

  async delete(digest: Digest): Promise<boolean> {
    if ((await this.stat(digest)) === undefined) return false;
    await this.#bucket.client.send(new DeleteObjectCommand({ Bucket: this.#bucket.name, Key: this.#blobKey(digest) }));
    return true;
  }

  async *list(): AsyncIterable<BlobInfo> {
    for await (const { Key, Size, LastModified } of objects(this.#bucket, BLOBS)) {
      const digest = digestNamed(Key.slice(this.#bucket.prefix.length));
      if (digest) yield { digest, size: Size, modified: LastModified.getTime() };
    }
  }

  async signedUrl(digest: Digest, seconds: number): Promise<string> {
    return getSignedUrl(this.#bucket.client, new GetObjectCommand({ Bucket: this.#bucket.name, Key: this.#blobKey(digest) }), {
      expiresIn: seconds,
    });
  }

  async createUpload(id: string): Promise<void> {
    const key = pieceKey(this.#bucket, id, 0);
    if ((await listPieces(this.#bucket, id)).length > 0) return;
    await this.#bucket.client.send(new PutObjectCommand({ Bucket: this.#bucket.name, Key: key, Body: Buffer.alloc(0), ContentLength: 0 }));
  }

  async appendUpload(id: string, source: Readable): Promise<number> {
    const pieces = await this.#pieces(id);
    const size = sizeOf(pieces);
    const hash = this.#appended.resume(id, this.#version(pieces), size);
    let appended;
    try {
      appended = await appendPieces(this.#bucket, id, pieces, source, this.#pieceBytes, hash && ((bytes) => hash.update(bytes)));
    } catch (e) {
      this.#appended.forget(id);
      if (statusOf(e) === 404) throw uploadUnknown(id); // deleted or committed meanwhile
      throw e;
    }
    if (appended.etag !== undefined) this.#appended.appended(id, versionOf(appended.size, appended.etag), hash);
    if (appended.sourceError !== undefined) throw appended.sourceError;
    return appended.size;
  }

  async uploadSize(id: string): Promise<number | undefined> {
    const pieces = await listPieces(this.#bucket, id);
    return pieces.length > 0 ? sizeOf(pieces) : undefined;
  }

  async digestUpload(id: string, alg: Algorithm): Promise<Digest> {
    const pieces = await this.#pieces(id);
    const known = this.#appended.digest(id, this.#version(pieces), alg);
    if (known) return known;
    try {
      return await hashPieces(this.#bucket, pieces, alg);
    } catch (e) {
      if (statusOf(e) === 404) throw uploadUnknown(id);
      throw e;
    }
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const key = this.#blobKey(digest);
    const pieces = await this.#pieces(id);
    if ((await this.stat(digest)) === undefined) {
      let placed: boolean;
      try {
        placed = await assemble(this.#bucket, pieces, key, digest);
      } catch (e) {
        if (statusOf(e) === 404) throw uploadUnknown(id); // a concurrent commit or delete of this upload won
        throw e;
      }
      if (!placed) throw oci('BLOB_UPLOAD_INVALID', 'the upload changed after its digest was verified', { id });
    }
    // The blob is in place: a cleanup that fails must not fail the commit (expiry removes staging without a session).
    await this.deleteUpload(id).catch(() => undefined);
  }

  async deleteUpload(id: string): Promise<boolean> {
    const pieces = await listPieces(this.#bucket, id);
    this.#appended.forget(id);
    for (let at = 0; at < pieces.length; at += DELETE_BATCH) {
      const batch = pieces.slice(at, at + DELETE_BATCH).map(({ key }) => ({ Key: key }));
      const { Errors = [] } = await this.#bucket.client.send(
        new DeleteObjectsCommand({ Bucket: this.#bucket.name, Delete: { Objects: batch, Quiet: true } }),
      );
      if (Errors.length > 0) throw new Error(`deleting upload ${id}: ${Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`);
    }
    return pieces.length > 0;
  }

  async *listUploads(): AsyncIterable<UploadInfo> {
    const uploads = new Map<string, UploadInfo>();
    for await (const { Key, Size, LastModified } of objects(this.#bucket, UPLOADS)) {
      const named = pieceNamed(this.#bucket, Key);
      if (!named) continue;
      const seen = uploads.get(named.id) ?? { id: named.id, size: 0, modified: 0 };
      uploads.set(named.id, { id: named.id, size: seen.size + Size, modified: Math.max(seen.modified, LastModified.getTime()) });
    }
    yield* uploads.values();
  }

  async close(): Promise<void> {
    // nothing held: every request is its own
  }

  /** The upload's pieces; BLOB_UPLOAD_UNKNOWN when it has none. */
  async #pieces(id: string): Promise<Piece[]> {
    const pieces = await listPieces(this.#bucket, id);
    if (pieces.length === 0) throw uploadUnknown(id);
    return pieces;
  }

  #version(pieces: Piece[]): string {
    return versionOf(sizeOf(pieces), (pieces.at(-1) as Piece).etag);
  }

  #blobKey(digest: Digest): string {
    return this.#bucket.prefix + blobName(digest);
  }
}
