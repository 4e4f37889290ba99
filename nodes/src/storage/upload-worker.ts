/**
 * Runs in a worker thread (see upload-writer.ts): appends upload chunks to their
 * staging files and hashes them as it goes, so hashing and disk writes use the
 * second core while the main thread only moves bytes off the sockets. The
 * running hash always covers exactly the bytes written to the file.
 */
import { parentPort } from 'node:worker_threads';
import { closeSync, fdatasync, fstatSync, openSync, readSync, write, constants } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import type { Request, Response } from './upload-protocol.js';

interface Upload {
  /** Running sha256 of the whole file, or null once it must be rebuilt from the file. */
  hash: Hash | null;
  fd?: number;
  /** Bytes written since the last background flush was started. */
  unflushed: number;
  /** A background fdatasync in progress, if any. */
  flushing?: Promise<void>;
}

/**
 * Start flushing a large upload to disk every this many bytes while it is
 * still arriving, so the fsync at commit has only the tail left to write
 * instead of stalling on the whole blob.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

function flushInBackground(up: Upload, fd: number): void {
  if (up.flushing) return;
  up.unflushed = 0;
  up.flushing = new Promise<void>((resolve) => fdatasync(fd, () => resolve())).finally(() => (up.flushing = undefined));
}

/** Close a descriptor nobody waits on (a failure there has no one to tell, and must not end the worker). */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the bytes were written and flushed already; the commit fsyncs through its own descriptor
  }
}

const uploads = new Map<string, Upload>();
const port = parentPort;
if (!port) throw new Error('upload-worker.ts must run in a worker thread');

function rehash(path: string, alg: string): string {
  const h = createHash(alg);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Write all of `data` at the end of `fd` on libuv's thread pool (short writes continue). */
function writeAll(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (at: number): void =>
      write(fd, data, at, data.length - at, null, (err, n) => {
        if (err) reject(err);
        else if (at + n < data.length) from(at + n);
        else resolve();
      });
    from(0);
  });
}

async function handle(req: Request): Promise<Response> {
  switch (req.t) {
    case 'open': {
      let up = uploads.get(req.id);
      // One writer per upload: a second open would interleave bytes and lose track of a descriptor.
      if (up?.fd !== undefined) throw Object.assign(new Error(`upload ${req.id} is already being written`), { code: 'EBUSY' });
      // No O_CREAT: appending to an upload that does not exist must fail (ENOENT).
      const fd = openSync(req.path, constants.O_WRONLY | constants.O_APPEND);
      if (!up) {
        // Unknown here (e.g. after a restart): a non-empty file's hash is rebuilt when asked for.
        up = { hash: fstatSync(fd).size === 0 ? createHash('sha256') : null, unflushed: 0 };
        uploads.set(req.id, up);
      }
      up.fd = fd;
      return { seq: req.seq };
    }
    case 'write': {
      const up = uploads.get(req.id);
      if (up?.fd === undefined) throw new Error(`upload ${req.id} is not open`);
      const data = new Uint8Array(req.buf, 0, req.len);
      // The write runs on the thread pool while this thread hashes the same bytes.
      const written = writeAll(up.fd, data);
      up.hash?.update(data);
      try {
        await written;
      } catch (e) {
        up.hash = null; // it saw bytes that may not have reached the file: rebuild when asked
        throw e;
      }
      up.unflushed += data.length;
      if (up.unflushed >= FLUSH_EVERY) flushInBackground(up, up.fd);
      return { seq: req.seq, buf: req.buf };
    }
    case 'close': {
      const up = uploads.get(req.id);
      if (up?.fd === undefined) return { seq: req.seq };
      const fd = up.fd;
      const size = fstatSync(fd).size;
      up.fd = undefined;
      // Never close a descriptor a background flush still uses, but do not make the client wait
      // for that flush either (a chunked upload closes after every PATCH): close when it is done.
      if (up.flushing) void up.flushing.finally(() => closeQuietly(fd));
      else closeSync(fd);
      return { seq: req.seq, size };
    }
    case 'digest': {
      const up = uploads.get(req.id);
      if (up?.fd !== undefined) throw new Error(`upload ${req.id} is still being written`);
      if (up?.hash && req.alg === 'sha256') return { seq: req.seq, hex: up.hash.copy().digest('hex') };
      return { seq: req.seq, hex: rehash(req.path, req.alg) };
    }
    case 'forget': {
      const up = uploads.get(req.id);
      await up?.flushing;
      if (up?.fd !== undefined) closeSync(up.fd);
      uploads.delete(req.id);
      return { seq: req.seq };
    }
  }
}

async function respond(req: Request): Promise<void> {
  let res: Response;
  try {
    res = await handle(req);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    res = { seq: req.seq, error: { message: err.message, code: err.code } };
  }
  port?.postMessage(res, res.buf ? [res.buf] : []);
}

// One request at a time, in arrival order: appends to a file must not interleave.
let queue = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(() => respond(req));
});
