import type { Readable, Writable } from 'node:stream';
import { oci, type Digest } from 'georeg/oci';
import type { BlobStore, ByteRange, WriteToOptions } from '../storage/driver.js';
import type { MetaStore } from '../meta/store.js';
import type { ContentGuard } from './content-guard.js';

export interface OpenBlob {
  size: number;
  stream: Readable;
}

/**
 * Blob access through repository links: a repository sees only the blobs linked
 * to it, so no repository can read another's data by guessing a digest.
 */
export class BlobService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetaStore,
    private readonly guard: ContentGuard,
    private readonly now: () => number = Date.now,
  ) {}

  /** Size of a blob linked into `repo`; BLOB_UNKNOWN otherwise. */
  async stat(repo: string, digest: Digest): Promise<number> {
    const link = await this.meta.getBlobLink(repo, digest);
    if (!link) throw oci('BLOB_UNKNOWN', undefined, { digest });
    const size = await this.blobs.stat(digest);
    if (size === undefined) throw oci('BLOB_UNKNOWN', undefined, { digest });
    return size;
  }

  async open(repo: string, digest: Digest, range?: ByteRange): Promise<OpenBlob> {
    const size = await this.stat(repo, digest);
    return { size, stream: await this.blobs.read(digest, range) };
  }

  /** The whole of a blob found linked (stat): only for small ones. */
  readAll(digest: Digest): Promise<Buffer> {
    return this.blobs.readAll(digest);
  }

  /** Write a blob found linked (stat), or a range of it, into `sink` without ending it (BlobStore.writeTo). */
  writeTo(digest: Digest, sink: Writable, range?: ByteRange, options?: WriteToOptions): Promise<void> {
    return this.blobs.writeTo(digest, sink, range, options);
  }

  /** Remove the repository's link to a blob; the bytes go at the next GC. */
  async delete(repo: string, digest: Digest): Promise<void> {
    if (!(await this.meta.unlinkBlob(repo, digest))) throw oci('BLOB_UNKNOWN', undefined, { digest });
  }

  /** Link a blob readable from `from` into `repo`; false when `from` cannot read it. */
  async mount(repo: string, from: string, digest: Digest): Promise<boolean> {
    if (!(await this.meta.getBlobLink(from, digest))) return false;
    return this.adopt(repo, digest);
  }

  /**
   * Link a blob this node already stores into `repo` (replication uses it when
   * another repository here holds the content); false when it is not stored.
   */
  async adopt(repo: string, digest: Digest): Promise<boolean> {
    return this.guard.committing(digest, async () => {
      const size = await this.blobs.stat(digest);
      if (size === undefined) return false;
      await this.link(repo, digest, size);
      return true;
    });
  }

  async link(repo: string, digest: Digest, size: number): Promise<void> {
    await this.meta.linkBlob(repo, digest, { size, created: this.now() });
  }
}
