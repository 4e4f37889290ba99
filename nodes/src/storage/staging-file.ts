/**
 * An upload's staging file as the upload worker appends to it.
 *
 * Where the filesystem allows it (ext4, xfs, ...), whole 4 KiB blocks are written
 * with O_DIRECT from one page-aligned buffer: the bytes skip the page cache, so a
 * large upload leaves no dirty pages behind for kernel writeback to fight over
 * (on a virtual disk that writeback ran at a fifth of the direct rate, and took
 * CPU from the hashing), and the commit's fsync has only the last block left.
 * The last partial block is written through the page cache when the request
 * ends, so the file never holds a byte that was not received: a process killed
 * at any point leaves a size an upload can resume from.
 *
 * Elsewhere (a filesystem that refuses O_DIRECT, or with `storage.directIo`
 * false) bytes are appended through the page cache,
 * with a background fdatasync every 32 MiB so the commit's fsync has only the
 * tail left to write.
 */
import { closeSync, constants, fdatasync, fstatSync, openSync, readSync, write } from 'node:fs';
import { alignedBuffer, BLOCK, WASM_PAGE } from './aligned.js';

/** Start a background flush every this many bytes written through the page cache. */
const FLUSH_EVERY = 32 * 1024 * 1024;
/** Bytes written per O_DIRECT call: a 1 MiB batch plus a carried tail fit in one. */
const STAGE_BYTES = 1024 * 1024 + WASM_PAGE;

let stage: Buffer | undefined;
/**
 * The one aligned buffer. The worker handles one request at a time, so only one
 * append uses it at any moment.
 */
function alignedStage(): Buffer {
  stage ??= alignedBuffer(STAGE_BYTES);
  return stage;
}

/** Write all of `data` at `position` (short writes continue), on libuv's thread pool. */
function writeAll(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (at: number): void =>
      write(fd, data, at, data.length - at, position + at, (err, n) => {
        if (err) reject(err);
        else if (at + n < data.length) from(at + n);
        else resolve();
      });
    from(0);
  });
}

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let at = 0; at < length;) {
    const n = readSync(fd, buf, at, length - at, position + at);
    if (n === 0) throw new Error('staging file shrank while it was opened');
    at += n;
  }
  return buf;
}

/** Close a descriptor whose closing nobody can act on (its data was written, or is being given up). */
function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // nothing to report to: the bytes that matter went through the other descriptor or were written already
  }
}

/** The O_DIRECT descriptor, or undefined where the filesystem does not do direct I/O. */
function openDirect(path: string): number | undefined {
  const flag = constants.O_DIRECT;
  if (flag === undefined) return undefined; // not Linux
  try {
    return openSync(path, constants.O_WRONLY | flag);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw e;
  }
}

export class StagingFile {
  /** Where the next write goes: with O_DIRECT, the block-aligned start of `#tail`. */
  #pos: number;
  /** Received bytes of the last, partial block, not yet written (O_DIRECT only). */
  #tail: Buffer;
  #unflushed = 0;
  #flushing?: Promise<void>;
  #failed?: Error;

  private constructor(
    /** Read-write, through the page cache: the tail, and every write where there is no direct I/O. */
    readonly fd: number,
    readonly directFd: number | undefined,
    size: number,
  ) {
    this.#pos = directFd === undefined ? size : size - (size % BLOCK);
    this.#tail = directFd === undefined ? Buffer.alloc(0) : readAt(fd, size - this.#pos, this.#pos);
  }

  /**
   * Open an existing staging file to append to it; ENOENT when there is none.
   * `direct`: use O_DIRECT where the filesystem supports it.
   */
  static open(path: string, direct: boolean): StagingFile {
    const fd = openSync(path, constants.O_RDWR); // no O_CREAT: the upload must exist
    let directFd: number | undefined;
    try {
      directFd = direct ? openDirect(path) : undefined;
      return new StagingFile(fd, directFd, fstatSync(fd).size);
    } catch (e) {
      closeQuietly(directFd);
      closeSync(fd);
      throw e;
    }
  }

  /** Bytes received so far, written or carried. */
  get size(): number {
    return this.#pos + this.#tail.length;
  }

  /** Whether whole blocks go to disk with O_DIRECT. */
  get direct(): boolean {
    return this.directFd !== undefined;
  }

  /**
   * Append `data`. After a failed append every later one fails too: writing the
   * next batch where the failed one belonged would leave a gap in the file.
   * The bytes before the failure stay, and close() still completes them.
   */
  async append(data: Uint8Array): Promise<void> {
    if (this.#failed) throw this.#failed;
    try {
      await (this.directFd === undefined ? this.#appendCached(data) : this.#appendDirect(data));
    } catch (e) {
      this.#failed = e as Error;
      throw e;
    }
  }

  async #appendDirect(data: Uint8Array): Promise<void> {
    const directFd = this.directFd as number;
    const buf = alignedStage();
    for (let at = 0; at < data.length;) {
      const carried = this.#tail.length;
      const n = Math.min(data.length - at, buf.length - carried);
      const whole = carried + n - ((carried + n) % BLOCK);
      if (whole > 0) {
        buf.set(this.#tail, 0);
        buf.set(data.subarray(at, at + whole - carried), carried);
        await writeAll(directFd, buf.subarray(0, whole), this.#pos);
        this.#pos += whole;
        this.#tail = Buffer.from(data.subarray(at + whole - carried, at + n));
      } else {
        this.#tail = Buffer.concat([this.#tail, data.subarray(at, at + n)]);
      }
      at += n;
    }
  }

  async #appendCached(data: Uint8Array): Promise<void> {
    await writeAll(this.fd, data, this.#pos);
    this.#pos += data.length;
    this.#unflushed += data.length;
    if (this.#unflushed >= FLUSH_EVERY && !this.#flushing) {
      this.#unflushed = 0;
      this.#flushing = new Promise<void>((resolve) => fdatasync(this.fd, () => resolve())).finally(() => (this.#flushing = undefined));
    }
  }

  /**
   * Write the partial last block and release the descriptors; resolves with the
   * file's size. A background flush in progress is not waited for (a chunked
   * upload closes after every PATCH): its descriptor closes when it is done.
   */
  async close(): Promise<number> {
    try {
      if (this.#tail.length > 0) await writeAll(this.fd, this.#tail, this.#pos);
      return this.size;
    } finally {
      closeQuietly(this.directFd);
      const fd = this.fd;
      if (this.#flushing) void this.#flushing.finally(() => closeQuietly(fd));
      else closeSync(fd);
    }
  }

  /** Wait for a background flush, so nothing still uses the file. */
  async settled(): Promise<void> {
    await this.#flushing;
  }
}
