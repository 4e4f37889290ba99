/**
 * Azure Blob Storage driver (BlobStore and UploadStaging) over one container of block blobs, laid
 * out as the fs driver's root is:
 *
 *   blobs/<alg>/<first two hex>/<hex>   committed blobs, immutable, e.g. blobs/sha256/ab/ab12…(64 hex)
 *   uploads/<id>                        upload staging blobs
 *
 * An upload's state lives in Azure, never in the process, so any node (any instance of this
 * driver) continues it by id. An append stages the bytes as uncommitted blocks as they arrive
 * (azure-blocks.ts), then commits the staging blob's block list with them added, on the condition
 * that it is still the version the append began from (If-Match its ETag): the staged bytes are then
 * readable (a digest from any node), sized and listed, and two appends at once never interleave.
 *
 * A commit copies the staging blob to the blob's name server-side (Copy Blob within the account:
 * no byte passes through the node, and no size limit), on the conditions that nothing is there yet
 * (If-None-Match *) and that the staging blob is still the version whose digest was verified. A
 * blob whose copy has not succeeded (pending, failed, aborted) is absent to stat, read and list, and
 * commitUpload returns only once its copy succeeded: nothing half-written is ever visible.
 *
 * Fast path: the instance that made every append of an upload keeps its running SHA-256 (valid
 * while the staging blob's ETag is the one its last append committed), so a digest costs no read
 * back; otherwise (another node appended, or SHA-512) the staging blob is read and hashed.
 */
import { Readable, type Writable } from 'node:stream';
import { BlobSASPermissions, type BlockBlobClient, type ContainerClient } from '@azure/storage-blob';
import { hashToDigest, newHash, oci, type Algorithm, type Digest } from 'georeg/oci';
import type { BlobInfo, BlobStore, ByteRange, SignedBlobUrls, UploadInfo, UploadStaging } from './driver.js';
import { blobUnknown, checkRange, checkUploadId, uploadUnknown, UPLOAD_ID } from './checks.js';
import { BLOBS, blobName, digestNamed } from './blob-names.js';
import { bufferOf, streamInto } from './copy.js';
import { stageStream } from './azure-blocks.js';
import { alreadyThere, orAbsent, statusOf } from './azure-answers.js';
import { committed, COPY_POLL_MS, place } from './azure-place.js';
import { Lru } from '../lru.js';
import { RunningHashes } from './running-hashes.js';

export interface AzureDriverOptions {
  /** Largest block an append stages (default 8 MiB); an append holds at most three in memory. */
  blockBytes?: number;
}

const BLOCK_BYTES = 8 * 1024 * 1024;
const UPLOADS = 'uploads/';
/** Uploads an instance remembers a verified version of. */
const REMEMBERED = 1024;

export class AzureBlobDriver implements BlobStore, UploadStaging, SignedBlobUrls {
  readonly #container: ContainerClient;
  readonly #blockBytes: number;
  readonly #appended = new RunningHashes();
  /**
   * The staging blob's ETag when this instance computed its digest, until it appends again: what a
   * commit copies, so bytes another node appended after the digest never slip into the blob.
   */
  readonly #verified = new Lru<string, string>(REMEMBERED);

  constructor(container: ContainerClient, { blockBytes = BLOCK_BYTES }: AzureDriverOptions = {}) {
    this.#container = container;
    this.#blockBytes = blockBytes;
  }

  /** The driver over `container`, created when absent: a wrong URL, account or key shows at start. */
  static async open(container: ContainerClient, options: AzureDriverOptions = {}): Promise<AzureBlobDriver> {
    await container.createIfNotExists();
    return new AzureBlobDriver(container, options);
  }

  async stat(digest: Digest): Promise<number | undefined> {
    const props = await orAbsent(this.#blob(digest).getProperties());
    return props && committed(props) ? (props.contentLength ?? 0) : undefined;
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const blob = this.#blob(digest);
    if (range) checkRange(range, Number.MAX_SAFE_INTEGER); // its shape now, its end once the size is known
    let res;
    try {
      res = range ? await blob.download(range.start, range.end - range.start + 1) : await blob.download();
    } catch (e) {
      if (statusOf(e) === 404) throw blobUnknown(digest);
      if (statusOf(e) === 416) throw oci('RANGE_INVALID', undefined, { ...range }); // starts past the end
      throw e;
    }
    const body = (res.readableStreamBody as Readable | undefined) ?? Readable.from([]);
    try {
      if (!committed(res)) throw blobUnknown(digest);
      if (range) checkRange(range, Number(/\/(\d+)$/.exec(res.contentRange ?? '')?.[1]));
    } catch (e) {
      body.destroy();
      throw e;
    }
    return body;
  }

  async writeTo(digest: Digest, sink: Writable, range?: ByteRange): Promise<void> {
    await streamInto(await this.read(digest, range), sink);
  }

  async readAll(digest: Digest): Promise<Buffer> {
    return bufferOf(await this.read(digest));
  }

  async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    const blob = this.#blob(digest);
    await place(blob, async (conditions) => {
      await blob.upload(bytes, bytes.length, { conditions }); // one Put Blob: all or nothing
      return true;
    });
  }

  async delete(digest: Digest): Promise<boolean> {
    return (await this.#blob(digest).deleteIfExists()).succeeded;
  }

  async *list(): AsyncIterable<BlobInfo> {
    for await (const item of this.#container.listBlobsFlat({ prefix: BLOBS })) {
      const digest = digestNamed(item.name);
      if (digest && committed(item.properties)) {
        yield { digest, size: item.properties.contentLength ?? 0, modified: item.properties.lastModified.getTime() };
      }
    }
  }

  async signedUrl(digest: Digest, seconds: number): Promise<string> {
    const expiresOn = new Date(Date.now() + seconds * 1000);
    return this.#blob(digest).generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn });
  }

  async createUpload(id: string): Promise<void> {
    try {
      await this.#upload(id).upload(Buffer.alloc(0), 0, { conditions: { ifNoneMatch: '*' } });
    } catch (e) {
      if (!alreadyThere(e)) throw e;
    }
  }

  async appendUpload(id: string, source: Readable): Promise<number> {
    const blob = this.#upload(id);
    const list = await orAbsent(blob.getBlockList('committed'));
    if (!list?.etag) throw uploadUnknown(id);
    const blocks = list.committedBlocks ?? [];
    const size = blocks.reduce((n, b) => n + b.size, 0);
    const hash = this.#appended.resume(id, list.etag, size);
    const staged = await stageStream(blob, source, this.#blockBytes, hash && ((bytes) => hash.update(bytes)));
    if (staged.ids.length > 0) {
      const ids = [...blocks.map((b) => b.name), ...staged.ids];
      let etag: string | undefined;
      try {
        ({ etag } = await blob.commitBlockList(ids, { conditions: { ifMatch: list.etag } }));
      } catch (e) {
        if (statusOf(e) !== 412) throw e;
        if ((await this.uploadSize(id)) === undefined) throw uploadUnknown(id);
        throw oci('BLOB_UPLOAD_INVALID', 'another request wrote to this upload meanwhile', { id });
      }
      this.#appended.appended(id, etag, hash);
      this.#verified.delete(id); // what this instance appends after a digest, a commit takes along
    }
    if (staged.sourceError !== undefined) throw staged.sourceError;
    return size + staged.bytes;
  }

  async uploadSize(id: string): Promise<number | undefined> {
    const props = await orAbsent(this.#upload(id).getProperties());
    return props && (props.contentLength ?? 0);
  }

  async digestUpload(id: string, alg: Algorithm): Promise<Digest> {
    const blob = this.#upload(id);
    const props = await orAbsent(blob.getProperties());
    if (!props?.etag) throw uploadUnknown(id);
    const digest = this.#appended.digest(id, props.etag, alg) ?? (await hashBlob(blob, props.etag, alg, id));
    this.#verified.set(id, props.etag);
    return digest;
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const source = this.#upload(id);
    const target = this.#blob(digest);
    const props = await orAbsent(source.getProperties());
    if (!props?.etag) throw uploadUnknown(id);
    const sourceConditions = { ifMatch: this.#verified.get(id) ?? props.etag };
    try {
      await place(target, async (conditions) =>
        (await target.beginCopyFromURL(source.url, { conditions, sourceConditions, intervalInMs: COPY_POLL_MS })).isDone(),
      );
    } catch (e) {
      if (statusOf(e) === 404) throw uploadUnknown(id); // a concurrent commit or delete of this upload won
      if (statusOf(e) === 412) throw oci('BLOB_UPLOAD_INVALID', 'the upload changed after its digest was verified', { id });
      throw e;
    }
    // The blob is in place: a cleanup that fails must not fail the commit (expiry removes staging without a session).
    await this.deleteUpload(id).catch(() => undefined);
  }

  async deleteUpload(id: string): Promise<boolean> {
    const blob = this.#upload(id);
    this.#appended.forget(id);
    this.#verified.delete(id);
    return (await blob.deleteIfExists()).succeeded;
  }

  async *listUploads(): AsyncIterable<UploadInfo> {
    for await (const item of this.#container.listBlobsFlat({ prefix: UPLOADS })) {
      const id = item.name.slice(UPLOADS.length);
      if (UPLOAD_ID.test(id)) yield { id, size: item.properties.contentLength ?? 0, modified: item.properties.lastModified.getTime() };
    }
  }

  async close(): Promise<void> {
    // nothing held: every request is its own
  }

  #blob(digest: Digest): BlockBlobClient {
    return this.#container.getBlockBlobClient(blobName(digest));
  }

  #upload(id: string): BlockBlobClient {
    return this.#container.getBlockBlobClient(UPLOADS + checkUploadId(id));
  }
}

/** The digest of a staging blob at version `etag`, read back and hashed as it streams. */
async function hashBlob(blob: BlockBlobClient, etag: string, alg: Algorithm, id: string): Promise<Digest> {
  const hash = newHash(alg);
  try {
    const res = await blob.download(0, undefined, { conditions: { ifMatch: etag } });
    for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) hash.update(chunk);
  } catch (e) {
    if (statusOf(e) === 404) throw uploadUnknown(id);
    if (statusOf(e) === 412) throw oci('BLOB_UPLOAD_INVALID', 'another request wrote to this upload meanwhile', { id });
    throw e;
  }
  return hashToDigest(hash, alg);
}
