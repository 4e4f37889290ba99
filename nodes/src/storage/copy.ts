import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const CHUNK = 1024 * 1024;
/** Most reads queued ahead of the one being written (cold reads only, see copyFileRange). */
const MAX_READ_AHEAD = 4;
/** A read slower than this (1 GiB/s) came from the disk, not the page cache. */
const COLD_BYTES_PER_MS = 1024 * 1024;
/** Spare chunk buffers kept between copies, so a pull allocates nothing. */
const spare: Buffer[] = [];
const MAX_SPARE = 8;

function take(size: number): Buffer {
  return size === CHUNK ? (spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK)) : Buffer.allocUnsafe(size);
}

function give(buf: Buffer): void {
  if (buf.length === CHUNK && spare.length < MAX_SPARE) spare.push(buf);
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
export async function copyFileRange(fd: FileHandle, sink: Writable, start: number, end: number): Promise<void> {
  const size = Math.min(CHUNK, end - start + 1);
  const owned: Buffer[] = [];
  const free: Buffer[] = [];
  const reads: { buf: Buffer; len: number; done: Promise<number> }[] = [];
  let depth = 1;
  let next = start;
  const readAhead = (): void => {
    while (reads.length < depth && next <= end) {
      let buf = free.pop();
      if (!buf) owned.push((buf = take(size)));
      const len = Math.min(buf.length, end - next + 1);
      const began = performance.now();
      const done = fd.read(buf, 0, len, next).then(({ bytesRead }) => {
        if (performance.now() - began > len / COLD_BYTES_PER_MS) depth = Math.min(MAX_READ_AHEAD, depth + 1);
        return bytesRead;
      });
      done.catch(() => undefined); // awaited in order below
      reads.push({ buf, len, done });
      next += len;
    }
  };
  let inFlight: Promise<void> = Promise.resolve();
  let writing: Buffer | undefined;
  try {
    readAhead();
    for (let read = reads.shift(); read; read = reads.shift()) {
      if ((await read.done) !== read.len) throw new Error('blob file shorter than expected');
      await inFlight;
      if (writing) free.push(writing);
      writing = read.buf;
      inFlight = write(sink, read.len === read.buf.length ? read.buf : read.buf.subarray(0, read.len));
      // Awaited at the next turn or below; meanwhile a client that hangs up must not be an unhandled rejection.
      inFlight.catch(() => undefined);
      readAhead();
    }
    await inFlight;
  } finally {
    // Only reuse buffers that no read fills and no sink holds any more.
    await Promise.allSettled(reads.map((r) => r.done));
    if (await inFlight.then(() => true, () => false)) owned.forEach(give);
  }
}

/** writeTo for drivers whose read streams are cheap (memory, cache). */
export function streamInto(source: Readable, sink: Writable): Promise<void> {
  return pipeline(source, sink, { end: false });
}
