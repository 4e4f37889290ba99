import type { Readable, Writable } from 'node:stream';
import type { Algorithm, Digest } from 'georeg/oci';

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface WriteToOptions {
  /**
   * A one-off read of the blob (a peer region copying it): the driver may
   * bypass its caches, which would gain nothing but lose what they hold.
   */
  once?: boolean;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
  /** Last modification (commit) time, ms since epoch. */
  modified: number;
}

export interface UploadInfo {
  id: string;
  size: number;
  modified: number;
}

/**
 * What a storage driver implements, as two small interfaces: `BlobStore`
 * (content addressing) and `UploadStaging` (bytes on their way in). The fs,
 * memory, Azure Blob and S3 drivers implement both (a commit moves staged bytes into
 * the store they stage for) and pass test/support/driver-suite.ts; a caching or remote
 * blob store may implement `BlobStore` alone.
 *
 * Blobs are written only through staging: bytes are appended to an upload
 * identified by an id, and become visible under their digest only through
 * `commitUpload`, which the caller invokes after it has verified the digest.
 * Nothing half-written is ever visible through `stat` or `read`.
 */

/** Committed blobs under their digest: immutable, never half-written. */
export interface BlobStore {
  /** Size of a committed blob, or undefined when absent. */
  stat(digest: Digest): Promise<number | undefined>;
  /**
   * Stream a committed blob (optionally a byte range of it). Rejects with
   * `BLOB_UNKNOWN` when absent; the stream is created only once the blob is open,
   * so an error here happens before any byte is sent.
   */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /**
   * Write a committed blob (or a range of it) into `sink`, respecting its
   * back-pressure, without ending it: the fast path for serving pulls. Rejects
   * with BLOB_UNKNOWN (or RANGE_INVALID) before writing anything. Memory stays
   * bounded whatever the blob size.
   */
  writeTo(digest: Digest, sink: Writable, range?: ByteRange, options?: WriteToOptions): Promise<void>;
  /** Whole blob in memory: only for small documents such as manifests. */
  readAll(digest: Digest): Promise<Buffer>;
  /**
   * Store a small blob whose bytes the caller holds and has verified against
   * `digest` (a manifest), durably and atomically, in one step; nothing when
   * the blob already exists.
   */
  putBlob(digest: Digest, bytes: Uint8Array): Promise<void>;
  /** Remove a committed blob; returns false when it was absent. */
  delete(digest: Digest): Promise<boolean>;
  /** Every committed blob, in no particular order. */
  list(): AsyncIterable<BlobInfo>;
}

/** Upload staging: bytes appended under an upload id, moved into the blob store by `commitUpload`. */
export interface UploadStaging {
  /** Create an empty staging area for an upload (idempotent). */
  createUpload(id: string): Promise<void>;
  /**
   * Append a stream to an upload; returns the upload's new size. Fails with
   * `BLOB_UPLOAD_UNKNOWN` when the upload does not exist. If the source errors
   * (client disconnect), the bytes already appended stay, and the returned
   * promise rejects: the caller learns the offset from `uploadSize`.
   */
  appendUpload(id: string, source: Readable): Promise<number>;
  /** Current size of an upload, or undefined when it does not exist. */
  uploadSize(id: string): Promise<number | undefined>;
  /**
   * Digest of the bytes staged so far. Drivers may keep a running hash while
   * appending (the fs driver does, on a worker thread) and rebuild it from the
   * staged bytes when they have none (after a restart, or for another algorithm).
   */
  digestUpload(id: string, alg: Algorithm): Promise<Digest>;
  /**
   * Durably move an upload's bytes to the blob store under `digest` (fsync,
   * then atomic rename) and remove the upload. If the blob already exists, the
   * upload is simply discarded. The caller MUST have verified the digest.
   */
  commitUpload(id: string, digest: Digest): Promise<void>;
  /** Remove an upload and its bytes; returns false when it was absent. */
  deleteUpload(id: string): Promise<boolean>;
  /** Every upload staging area, in no particular order. */
  listUploads(): AsyncIterable<UploadInfo>;
  /** Release what staging holds (the fs driver's worker thread). */
  close(): Promise<void>;
}

/**
 * A blob store whose blobs clients can download from the storage service itself (the Azure and S3
 * drivers): a URL that is its own read-only credential for one blob, for a short time.
 */
export interface SignedBlobUrls {
  /** A URL a client can GET the committed blob at, without other credentials, for `seconds`. */
  signedUrl(digest: Digest, seconds: number): Promise<string>;
}
