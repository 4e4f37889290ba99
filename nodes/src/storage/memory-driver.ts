/**
 * In-memory storage driver (BlobStore and UploadStaging), for tests and embedded use. Bytes are kept as the chunks
 * they arrived in (never concatenated except by `readAll`); ranges are served as
 * slices of those chunks.
 */
import { Readable, type Writable } from 'node:stream';
import { hashToDigest, newHash, parseDigest, type Algorithm, type Digest, oci } from 'georeg/oci';
import type { BlobInfo, BlobStore, ByteRange, UploadInfo, UploadStaging } from './driver.js';
import { streamInto } from './copy.js';
import { checkRange, checkUploadId, uploadUnknown } from './checks.js';

interface Entry {
  chunks: Buffer[];
  size: number;
  modified: number;
}

export class MemoryBlobDriver implements BlobStore, UploadStaging {
  readonly #blobs = new Map<Digest, Entry>();
  readonly #uploads = new Map<string, Entry>();

  async stat(digest: Digest): Promise<number | undefined> {
    return this.#blobs.get(parseDigest(digest))?.size;
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const blob = this.#blob(digest);
    if (!range) return toStream(blob.chunks);
    checkRange(range, blob.size);
    return toStream(slice(blob.chunks, range.start, range.end + 1));
  }

  async writeTo(digest: Digest, sink: Writable, range?: ByteRange): Promise<void> {
    await streamInto(await this.read(digest, range), sink);
  }

  async readAll(digest: Digest): Promise<Buffer> {
    return Buffer.concat(this.#blob(digest).chunks);
  }

  async delete(digest: Digest): Promise<boolean> {
    return this.#blobs.delete(parseDigest(digest));
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const [digest, { size, modified }] of [...this.#blobs]) yield { digest, size, modified };
  }

  async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    const valid = parseDigest(digest);
    if (!this.#blobs.has(valid)) this.#blobs.set(valid, { chunks: [Buffer.from(bytes)], size: bytes.length, modified: Date.now() });
  }

  async createUpload(id: string): Promise<void> {
    if (!this.#uploads.has(checkUploadId(id))) this.#uploads.set(id, { chunks: [], size: 0, modified: Date.now() });
  }

  async appendUpload(id: string, source: Readable): Promise<number> {
    const upload = this.#upload(id);
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      const bytes = Buffer.from(chunk); // a copy: the source may reuse its buffers
      upload.chunks.push(bytes);
      upload.size += bytes.length;
      upload.modified = Date.now();
    }
    return upload.size;
  }

  async uploadSize(id: string): Promise<number | undefined> {
    return this.#uploads.get(checkUploadId(id))?.size;
  }

  async digestUpload(id: string, alg: Algorithm): Promise<Digest> {
    const hash = newHash(alg);
    for (const chunk of this.#upload(id).chunks) hash.update(chunk);
    return hashToDigest(hash, alg);
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const valid = parseDigest(digest);
    const upload = this.#upload(id);
    if (!this.#blobs.has(valid)) {
      this.#blobs.set(valid, { chunks: [...upload.chunks], size: upload.size, modified: Date.now() });
    }
    this.#uploads.delete(id);
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.#uploads.delete(checkUploadId(id));
  }

  async *listUploads(): AsyncIterable<UploadInfo> {
    for (const [id, { size, modified }] of [...this.#uploads]) yield { id, size, modified };
  }

  async close(): Promise<void> {
    // nothing to release
  }

  #blob(digest: Digest): Entry {
    const blob = this.#blobs.get(parseDigest(digest));
    if (!blob) throw oci('BLOB_UNKNOWN', undefined, { digest });
    return blob;
  }

  #upload(id: string): Entry {
    const upload = this.#uploads.get(checkUploadId(id));
    if (!upload) throw uploadUnknown(id);
    return upload;
  }
}

/** The parts of chunks covering bytes [from, to), without copying. */
function slice(chunks: Buffer[], from: number, to: number): Buffer[] {
  const parts: Buffer[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const next = offset + chunk.length;
    if (next > from && offset < to) parts.push(chunk.subarray(Math.max(0, from - offset), Math.min(chunk.length, to - offset)));
    if (next >= to) break;
    offset = next;
  }
  return parts;
}

function toStream(chunks: Buffer[]): Readable {
  return Readable.from(chunks, { objectMode: false });
}
