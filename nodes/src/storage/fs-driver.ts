/**
 * Filesystem storage driver (BlobStore and UploadStaging). Everything lives under one root, so staging files and blobs
 * share a filesystem and `rename` is atomic:
 *
 *   <root>/
 *     blobs/<alg>/<first two hex>/<hex>   committed blobs, immutable, e.g.
 *                                         blobs/sha256/ab/ab12…(64 hex)
 *     uploads/<id>                        upload staging files, only ever appended to
 *
 * A blob appears under blobs/ only through `commitUpload`: fsync the staging file,
 * rename it into place, fsync the directory. A crash leaves at worst a stray upload.
 */
import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Algorithms, digestAlgorithm, digestHex, parseDigest, type Algorithm, type Digest, oci } from 'georeg/oci';
import type { BlobInfo, BlobStore, ByteRange, UploadInfo, UploadStaging, WriteToOptions } from './driver.js';
import { copyFileRange, copyFileRangeDirect } from './copy.js';
import { UploadWriter } from './upload-writer.js';
import { blobUnknown, checkRange, checkUploadId, uploadUnknown, UPLOAD_ID } from './checks.js';

export interface FsDriverOptions {
  directIo?: boolean;
}

const HIGH_WATER_MARK = 256 * 1024;
/** One-off reads at least this long bypass the page cache (O_DIRECT); shorter ones are cheap either way. */
const DIRECT_READ_MIN = 4 * 1024 * 1024;
const SHARD = /^[a-f0-9]{2}$/;

export class FsBlobDriver implements BlobStore, UploadStaging {
  readonly #blobs: string;
  readonly #uploads: string;
  /** Appends and hashes upload bytes on a worker thread. */
  readonly #writer: UploadWriter;

  /**
   * Touches nothing on disk; directories are created on first use (or by `open`).
   * `directIo`: stage uploads with O_DIRECT where the filesystem supports it (see staging-file.ts),
   * and read one-off copies of large blobs with it (see copy.ts).
   */
  constructor(root: string, { directIo = true }: FsDriverOptions = {}) {
    this.#blobs = join(root, 'blobs');
    this.#uploads = join(root, 'uploads');
    this.#writer = new UploadWriter(directIo);
  }

  /** Create the directory layout up front, so permission problems show at start. */
  static async open(root: string, options: FsDriverOptions = {}): Promise<FsBlobDriver> {
    const driver = new FsBlobDriver(root, options);
    await fs.mkdir(driver.#blobs, { recursive: true });
    await fs.mkdir(driver.#uploads, { recursive: true });
    return driver;
  }

  async stat(digest: Digest): Promise<number | undefined> {
    const st = await orAbsent(fs.stat(this.#blobPath(digest)));
    return st?.isFile() ? st.size : undefined;
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const fd = await orAbsent(fs.open(this.#blobPath(digest), 'r'));
    if (!fd) throw blobUnknown(digest);
    if (range) {
      try {
        checkRange(range, (await fd.stat()).size);
      } catch (e) {
        await fd.close();
        throw e;
      }
    }
    return fd.createReadStream({ start: range?.start, end: range?.end, highWaterMark: HIGH_WATER_MARK });
  }

  async writeTo(digest: Digest, sink: Writable, range?: ByteRange, { once = false }: WriteToOptions = {}): Promise<void> {
    const path = this.#blobPath(digest);
    const fd = await orAbsent(fs.open(path, 'r'));
    if (!fd) throw blobUnknown(digest);
    try {
      const size = (await fd.stat()).size;
      if (range) checkRange(range, size);
      if (size === 0) return;
      const start = range?.start ?? 0;
      const end = range?.end ?? size - 1;
      if (once && this.#writer.direct && end + 1 - start >= DIRECT_READ_MIN && (await copyDirect(path, sink, start, end))) return;
      await copyFileRange(fd, sink, start, end);
    } finally {
      await fd.close();
    }
  }

  async readAll(digest: Digest): Promise<Buffer> {
    const data = await orAbsent(fs.readFile(this.#blobPath(digest)));
    if (!data) throw blobUnknown(digest);
    return data;
  }

  async delete(digest: Digest): Promise<boolean> {
    return removed(this.#blobPath(digest));
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const alg of await entries(this.#blobs, 'dir')) {
      if (!Object.hasOwn(Algorithms, alg)) continue;
      const hexName = new RegExp(`^[a-f0-9]{${Algorithms[alg as Algorithm]}}$`);
      for (const shard of await entries(join(this.#blobs, alg), 'dir')) {
        if (!SHARD.test(shard)) continue;
        for (const hex of await entries(join(this.#blobs, alg, shard), 'file')) {
          if (!hexName.test(hex) || !hex.startsWith(shard)) continue;
          const st = await orAbsent(fs.stat(join(this.#blobs, alg, shard, hex)));
          if (st) yield { digest: `${alg}:${hex}` as Digest, size: st.size, modified: Math.floor(st.mtimeMs) };
        }
      }
    }
  }

  async createUpload(id: string): Promise<void> {
    const path = this.#uploadPath(id);
    await fs.mkdir(this.#uploads, { recursive: true });
    await (await fs.open(path, 'a')).close();
  }

  async appendUpload(id: string, source: Readable): Promise<number> {
    const path = this.#uploadPath(id);
    try {
      await this.#writer.append(id, path, source);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw uploadUnknown(id);
      if (code === 'EBUSY') throw oci('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', { id });
      throw e;
    }
    const size = (await orAbsent(fs.stat(path)))?.size;
    if (size === undefined) throw uploadUnknown(id); // deleted while we appended
    return size;
  }

  async uploadSize(id: string): Promise<number | undefined> {
    return (await orAbsent(fs.stat(this.#uploadPath(id))))?.size;
  }

  async digestUpload(id: string, alg: Algorithm): Promise<Digest> {
    const path = this.#uploadPath(id);
    try {
      return `${alg}:${await this.#writer.digest(id, path, alg)}` as Digest;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw uploadUnknown(id);
      throw e;
    }
  }

  async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    const target = this.#blobPath(digest);
    if (await orAbsent(fs.stat(target))) return;
    await fs.mkdir(this.#uploads, { recursive: true });
    const staged = join(this.#uploads, `p-${randomBytes(12).toString('base64url')}`);
    const fd = await fs.open(staged, 'wx');
    try {
      await fd.writeFile(bytes);
      await fd.sync();
    } finally {
      await fd.close();
    }
    const dir = dirname(target);
    await fs.mkdir(dir, { recursive: true });
    await fs.rename(staged, target); // identical content may race in: rename is atomic either way
    await syncDir(dir);
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const source = this.#uploadPath(id);
    const target = this.#blobPath(digest);
    // First close the worker's side of the upload: nothing may be appended after the caller verified the digest.
    await this.#writer.forget(id);
    const fd = await orAbsent(fs.open(source, 'r+'));
    if (!fd) throw uploadUnknown(id);
    try {
      const now = new Date();
      await fd.utimes(now, now); // BlobInfo.modified is the commit time
      await fd.sync();
    } finally {
      await fd.close();
    }
    const dir = dirname(target);
    await fs.mkdir(dir, { recursive: true });
    if (await orAbsent(fs.stat(target))) {
      await removed(source);
      return;
    }
    // Racing commits of one digest are fine: content is identical, rename is atomic.
    const moved = await orAbsent(fs.rename(source, target).then(() => true));
    if (!moved) throw uploadUnknown(id); // a concurrent commit or delete of this upload won
    await syncDir(dir);
  }

  async deleteUpload(id: string): Promise<boolean> {
    const path = this.#uploadPath(id);
    await this.#writer.forget(id);
    return removed(path);
  }

  async *listUploads(): AsyncIterable<UploadInfo> {
    for (const id of await entries(this.#uploads, 'file')) {
      if (!UPLOAD_ID.test(id)) continue;
      const st = await orAbsent(fs.stat(join(this.#uploads, id)));
      if (st) yield { id, size: st.size, modified: Math.floor(st.mtimeMs) };
    }
  }

  async close(): Promise<void> {
    await this.#writer.close();
  }

  #blobPath(digest: Digest): string {
    const valid = parseDigest(digest); // never build a path from an unchecked string
    const hex = digestHex(valid);
    return join(this.#blobs, digestAlgorithm(valid), hex.slice(0, 2), hex);
  }

  #uploadPath(id: string): string {
    return join(this.#uploads, checkUploadId(id));
  }
}

/** The promise's value, or undefined when it failed with ENOENT; other errors propagate unchanged. */
async function orAbsent<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function removed(path: string): Promise<boolean> {
  return (await orAbsent(fs.unlink(path).then(() => true))) ?? false;
}

/**
 * Copy [start, end] of the file at `path` with O_DIRECT reads; false, having
 * written nothing, where the filesystem (or platform) has no direct I/O, the
 * file is gone, or no aligned buffers are to be had.
 */
async function copyDirect(path: string, sink: Writable, start: number, end: number): Promise<boolean> {
  if (constants.O_DIRECT === undefined) return false;
  const fd = await fs.open(path, constants.O_RDONLY | constants.O_DIRECT).catch((e: NodeJS.ErrnoException) => {
    // EINVAL: no direct I/O here. ENOENT: deleted since the caller opened it, whose descriptor still reads it.
    if (e.code === 'EINVAL' || e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!fd) return false;
  try {
    return await copyFileRangeDirect(fd, sink, start, end);
  } finally {
    await fd.close();
  }
}

/** Names of the subdirectories or regular files in dir; none when dir is absent. */
async function entries(dir: string, kind: 'dir' | 'file'): Promise<string[]> {
  const all = (await orAbsent(fs.readdir(dir, { withFileTypes: true }))) ?? [];
  return all.filter((e) => (kind === 'dir' ? e.isDirectory() : e.isFile())).map((e) => e.name);
}

/** Make a rename durable. Best effort: not every platform can fsync a directory. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fd = await fs.open(dir, 'r');
    try {
      await fd.sync();
    } finally {
      await fd.close();
    }
  } catch {
    // the rename itself succeeded; durability of the directory entry is best effort
  }
}
