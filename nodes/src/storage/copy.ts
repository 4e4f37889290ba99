import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { alignedBuffer, BLOCK } from './aligned.js';

const CHUNK = 1024 * 1024;
/** Most reads queued ahead of the one being written (cold reads only, see copyFileRange). */
const MAX_READ_AHEAD = 4;
/** A read slower than this (1 GiB/s) came from the disk, not the page cache. */
const COLD_BYTES_PER_MS = 1024 * 1024;
/** Spare chunk buffers kept between copies, so a pull allocates nothing. */
const spare: Buffer[] = [];
const MAX_SPARE = 8;

/** Where a copy's chunk buffers come from and go back to. */
interface Buffers {
  /** A buffer to read the next chunk into; undefined when there is none to spare now. */
  take(size: number): Buffer | undefined;
  give(buf: Buffer): void;
}

const heapBuffers: Buffers = {
  take: (size) => (size === CHUNK ? (spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK)) : Buffer.allocUnsafe(size)),
  give: (buf) => {
    if (buf.length === CHUNK && spare.length < MAX_SPARE) spare.push(buf);
  },
};

/** Reads an O_DIRECT copy keeps in flight: measured here, two kept the disk as busy as four. */
const DIRECT_DEPTH = 2;
/** O_DIRECT copies at once; more read through the page cache. */
const MAX_DIRECT_COPIES = 8;
/** Buffer sets kept for the next direct copies. */
const MAX_IDLE_SETS = 2;
const idleSets: Buffer[][] = [];
let directCopies = 0;

/**
 * Page-aligned buffers for one O_DIRECT copy (the reads in flight and the chunk
 * being written), cut from one aligned slab. Undefined when MAX_DIRECT_COPIES
 * run already or no memory can be had.
 */
function takeAlignedSet(): Buffer[] | undefined {
  if (directCopies >= MAX_DIRECT_COPIES) return undefined;
  let set = idleSets.pop();
  if (!set) {
    try {
      const slab = alignedBuffer((DIRECT_DEPTH + 1) * CHUNK);
      set = Array.from({ length: DIRECT_DEPTH + 1 }, (_, i) => slab.subarray(i * CHUNK, (i + 1) * CHUNK));
    } catch {
      return undefined; // out of address space for WebAssembly memories: read through the cache
    }
  }
  directCopies++;
  return set;
}

/** Resolves once `sink` has handed `buf` to the kernel; rejects if the sink fails or closes first. */
function write(sink: Writable, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error('sink closed before the write completed'));
    sink.once('close', onClose);
    sink.write(buf, (err) => {
      sink.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * Copy bytes [start, end] of an open file into `sink` without ending it: one
 * 1 MiB buffer is read while another is written, and buffers are reused, so
 * memory stays flat and nothing is allocated per chunk. When reads turn out to
 * come from the disk rather than the page cache (slower than 1 GiB/s: a blob
 * written with O_DIRECT and not read since), more reads are queued ahead, up to
 * MAX_READ_AHEAD: on a virtual disk, cold 1 MiB reads one at a time ran at
 * 400-460 MiB/s and four queued at 1-2 GiB/s. Warm copies keep two buffers,
 * whose bytes stay in the CPU's cache between the read and the write (four
 * halved node-client pulls in the bench). `sink` must not keep a written buffer
 * after its write callback (true of sockets, HTTP responses and the ReadBlob sink).
 */
export function copyFileRange(fd: FileHandle, sink: Writable, start: number, end: number): Promise<void> {
  return copyChunks(fd, sink, start, end, { buffers: heapBuffers, align: 1, depth: 1, maxDepth: MAX_READ_AHEAD, written: 0 });
}

/**
 * copyFileRange for a descriptor opened with O_DIRECT: reads whole aligned
 * blocks into aligned buffers and writes only the bytes of [start, end]. For
 * one-off reads of large blobs (a peer region's copy): the bytes come straight
 * from the disk, neither filling the page cache nor costing the CPU time a
 * cold read through it does (on this project's test machine 1.85 s of kernel
 * time per GiB, against 0.07 s direct, and 900 against 1400 MiB/s). Returns
 * false, having written nothing, when it cannot have aligned buffers: the
 * caller then copies through the page cache.
 */
export async function copyFileRangeDirect(fd: FileHandle, sink: Writable, start: number, end: number): Promise<boolean> {
  const set = takeAlignedSet();
  if (!set) return false;
  const pool = [...set];
  const buffers: Buffers = { take: () => pool.pop(), give: (buf) => pool.push(buf) };
  let released = false;
  const plan: CopyPlan = { buffers, align: BLOCK, depth: DIRECT_DEPTH, maxDepth: DIRECT_DEPTH, written: 0 };
  try {
    await copyChunks(fd, sink, start, end, plan);
    released = true;
  } catch (e) {
    // A filesystem that opens with O_DIRECT but refuses the reads (larger blocks, some FUSE
    // mounts): nothing was written yet, so the caller can still copy through the page cache.
    if ((e as NodeJS.ErrnoException).code === 'EINVAL' && plan.written === 0) return false;
    throw e;
  } finally {
    directCopies--;
    // After a failure a sink may still hold a buffer: the set is left to the garbage collector.
    if (released && idleSets.length < MAX_IDLE_SETS) idleSets.push(set);
  }
  return true;
}

interface CopyPlan {
  buffers: Buffers;
  /** Reads start and (except at the end of the file) end on multiples of this. */
  align: number;
  /** Reads queued ahead at first, and at most. */
  depth: number;
  maxDepth: number;
  /** Bytes handed to the sink so far (counted by the copy). */
  written: number;
}

async function copyChunks(fd: FileHandle, sink: Writable, start: number, end: number, plan: CopyPlan): Promise<void> {
  const { buffers, align, maxDepth } = plan;
  const owned: Buffer[] = [];
  const free: Buffer[] = [];
  /** A read into `buf`, of which [skip, use) are bytes of the range. */
  const reads: { buf: Buffer; skip: number; use: number; done: Promise<number> }[] = [];
  let depth = plan.depth;
  let next = start - (start % align);
  const readAhead = (): void => {
    while (reads.length < depth && next <= end) {
      let buf = free.pop();
      if (!buf) {
        buf = buffers.take(Math.min(CHUNK, end - next + 1));
        if (!buf) break; // a direct copy owns exactly `depth` buffers; they come back as writes finish
        owned.push(buf);
      }
      const wanted = Math.min(buf.length, end - next + 1);
      const len = Math.min(buf.length, Math.ceil(wanted / align) * align);
      const began = performance.now();
      const done = fd.read(buf, 0, len, next).then(({ bytesRead }) => {
        if (performance.now() - began > len / COLD_BYTES_PER_MS) depth = Math.min(maxDepth, depth + 1);
        return bytesRead;
      });
      done.catch(() => undefined); // awaited in order below
      reads.push({ buf, skip: Math.max(0, start - next), use: wanted, done });
      next += len;
    }
  };
  let inFlight: Promise<void> = Promise.resolve();
  let writing: Buffer | undefined;
  try {
    readAhead();
    for (let read = reads.shift(); read; read = reads.shift()) {
      if ((await read.done) < read.use) throw new Error('blob file shorter than expected');
      await inFlight;
      if (writing) free.push(writing);
      writing = read.buf;
      const bytes = read.skip === 0 && read.use === read.buf.length ? read.buf : read.buf.subarray(read.skip, read.use);
      inFlight = write(sink, bytes);
      plan.written += bytes.length;
      // Awaited at the next turn or below; meanwhile a client that hangs up must not be an unhandled rejection.
      inFlight.catch(() => undefined);
      readAhead();
    }
    await inFlight;
  } finally {
    // Only reuse buffers that no read fills and no sink holds any more.
    await Promise.allSettled(reads.map((r) => r.done));
    if (
      await inFlight.then(
        () => true,
        () => false,
      )
    )
      owned.forEach((buf) => buffers.give(buf));
  }
}

/** writeTo for drivers whose read streams are cheap (memory, cache). */
export function streamInto(source: Readable, sink: Writable): Promise<void> {
  return pipeline(source, sink, { end: false });
}

/** A stream's bytes in one buffer: readAll for drivers whose read is a stream from a service. */
export async function bufferOf(source: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
