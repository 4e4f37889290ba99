import { Readable, type Writable } from 'node:stream';
import type { Digest } from 'georeg/oci';
import { Lru } from '../lru.js';
import type { BlobInfo, BlobStore, ByteRange, WriteToOptions } from './driver.js';
import { checkRange } from './checks.js';
import { streamInto } from './copy.js';

export interface BlobCacheOptions {
  /** Memory for cached blob bytes in total. */
  maxBytes: number;
  /** Blobs up to this size are cached (configs, manifests, small layers). */
  maxItemBytes: number;
}

/**
 * Keeps small committed blobs in memory. Content-addressed bytes never change,
 * so the only invalidation needed is `delete` (a commit through the driver's
 * staging adds a blob, which no cached miss hides: misses are not cached).
 * Large blobs pass straight through to the inner store as streams.
 */
export class CachingBlobStore implements BlobStore {
  readonly #bytes: Lru<string, Buffer>;

  constructor(
    private readonly inner: BlobStore,
    private readonly options: BlobCacheOptions,
  ) {
    this.#bytes = new Lru(options.maxBytes, (b) => b.length);
  }

  /** The bytes of a small blob (cached now), or undefined for a large or absent one. */
  async small(digest: Digest): Promise<Buffer | undefined> {
    const hit = this.#bytes.get(digest);
    if (hit) return hit;
    const size = await this.inner.stat(digest);
    if (size === undefined || size > this.options.maxItemBytes) return undefined;
    const bytes = await this.inner.readAll(digest);
    this.#bytes.set(digest, bytes);
    return bytes;
  }

  async stat(digest: Digest): Promise<number | undefined> {
    return this.#bytes.get(digest)?.length ?? this.inner.stat(digest);
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const bytes = await this.small(digest);
    if (!bytes) return this.inner.read(digest, range);
    if (!range) return Readable.from([bytes]);
    checkRange(range, bytes.length);
    return Readable.from([bytes.subarray(range.start, range.end + 1)]);
  }

  async writeTo(digest: Digest, sink: Writable, range?: ByteRange, options?: WriteToOptions): Promise<void> {
    const bytes = this.#bytes.get(digest);
    if (!bytes) return this.inner.writeTo(digest, sink, range, options);
    await streamInto(await this.read(digest, range), sink);
  }

  async readAll(digest: Digest): Promise<Buffer> {
    return (await this.small(digest)) ?? this.inner.readAll(digest);
  }

  async delete(digest: Digest): Promise<boolean> {
    this.#bytes.delete(digest);
    return this.inner.delete(digest);
  }

  list(): AsyncIterable<BlobInfo> {
    return this.inner.list();
  }

  putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    return this.inner.putBlob(digest, bytes);
  }
}
