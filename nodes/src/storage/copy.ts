import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const CHUNK = 1024 * 1024;
/** Reads queued ahead of the one being written. */
const READ_AHEAD = 4;
/** Spare chunk buffers kept between copies, so a pull allocates nothing. */
const spare: Buffer[] = [];
const MAX_SPARE = 2 * (READ_AHEAD + 1);

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
 * Copy bytes [start, end] of an open file into `sink` without ending it. Up to
 * READ_AHEAD 1 MiB reads are in flight while one buffer is being written: a blob
 * that is not in the page cache (uploads are written with O_DIRECT) reads at
 * 400 MiB/s one 1 MiB read at a time on a virtual disk, and at 1-2 GiB/s with
 * four queued. Buffers are reused, so memory stays flat and nothing is
 * allocated per chunk. `sink` must not keep a written buffer after its write
 * callback (true of sockets, HTTP responses and the ReadBlob sink).
 */
export async function copyFileRange(fd: FileHandle, sink: Writable, start: number, end: number): Promise<void> {
  const size = Math.min(CHUNK, end - start + 1);
  const free = Array.from({ length: Math.min(READ_AHEAD + 1, Math.ceil((end - start + 1) / size)) }, () => take(size));
  const owned = [...free];
  const reads: { buf: Buffer; len: number; done: Promise<number> }[] = [];
  let next = start;
  const readAhead = (): void => {
    while (free.length > 0 && next <= end) {
      const buf = free.pop() as Buffer;
      const len = Math.min(buf.length, end - next + 1);
      const done = fd.read(buf, 0, len, next).then((r) => r.bytesRead);
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
