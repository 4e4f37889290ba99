import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const CHUNK = 1024 * 1024;
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
 * Copy bytes [start, end] of an open file into `sink` without ending it: two
 * 1 MiB buffers alternate, one being read from disk while the other is being
 * written, and are reused, so memory stays flat and nothing is allocated per
 * chunk. `sink` must not keep a written buffer after its write callback (true
 * of sockets and HTTP responses).
 */
export async function copyFileRange(fd: FileHandle, sink: Writable, start: number, end: number): Promise<void> {
  const size = Math.min(CHUNK, end - start + 1);
  const bufs = [take(size), take(size)] as const;
  let pos = start;
  let inFlight: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; pos <= end; i ^= 1) {
      const buf = bufs[i] as Buffer;
      const { bytesRead } = await fd.read(buf, 0, Math.min(buf.length, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error('blob file shorter than expected');
      await inFlight;
      inFlight = write(sink, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    await inFlight;
  } finally {
    // Only reuse buffers the sink has finished with.
    if (await inFlight.then(() => true, () => false)) bufs.forEach(give);
  }
}

/** writeTo for drivers whose read streams are cheap (memory, cache). */
export function streamInto(source: Readable, sink: Writable): Promise<void> {
  return pipeline(source, sink, { end: false });
}
