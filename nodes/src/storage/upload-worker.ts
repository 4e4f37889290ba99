/**
 * Runs in a worker thread (see upload-writer.ts): appends upload chunks to their
 * staging files and hashes them as it goes, so hashing and disk writes use the
 * second core while the main thread only moves bytes off the sockets. The
 * running hash always covers exactly the bytes written to the file.
 */
import { parentPort } from 'node:worker_threads';
import { closeSync, fstatSync, openSync, readSync, writeSync, constants } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import type { Request, Response } from './upload-protocol.js';

interface Upload {
  /** Running sha256 of the whole file, or null once it must be rebuilt from the file. */
  hash: Hash | null;
  fd?: number;
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

function handle(req: Request): Response {
  switch (req.t) {
    case 'open': {
      // No O_CREAT: appending to an upload that does not exist must fail (ENOENT).
      const fd = openSync(req.path, constants.O_WRONLY | constants.O_APPEND);
      let up = uploads.get(req.id);
      if (!up) {
        // Unknown here (e.g. after a restart): a non-empty file's hash is rebuilt when asked for.
        up = { hash: fstatSync(fd).size === 0 ? createHash('sha256') : null };
        uploads.set(req.id, up);
      }
      up.fd = fd;
      return { seq: req.seq };
    }
    case 'write': {
      const up = uploads.get(req.id);
      if (up?.fd === undefined) throw new Error(`upload ${req.id} is not open`);
      const data = new Uint8Array(req.buf, 0, req.len);
      try {
        // write may write less than asked; continue where it stopped.
        for (let at = 0; at < data.length; ) at += writeSync(up.fd, data, at, data.length - at);
      } catch (e) {
        up.hash = null;
        throw e;
      }
      up.hash?.update(data);
      return { seq: req.seq, buf: req.buf };
    }
    case 'close': {
      const up = uploads.get(req.id);
      if (up?.fd === undefined) return { seq: req.seq };
      const size = fstatSync(up.fd).size;
      closeSync(up.fd);
      up.fd = undefined;
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
      if (up?.fd !== undefined) closeSync(up.fd);
      uploads.delete(req.id);
      return { seq: req.seq };
    }
  }
}

port.on('message', (req: Request) => {
  let res: Response;
  try {
    res = handle(req);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    res = { seq: req.seq, error: { message: err.message, code: err.code } };
  }
  port.postMessage(res, res.buf ? [res.buf] : []);
});
