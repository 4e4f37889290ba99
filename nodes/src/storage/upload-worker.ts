/**
 * Runs in a worker thread (see upload-writer.ts): appends upload chunks to their
 * staging files and hashes them as it goes, so hashing and disk writes use the
 * second core while the main thread only moves bytes off the sockets. The
 * running hash always covers exactly the bytes written to the file; it is used only while the
 * file is still that long, since another process over the same directory (another node of the
 * region) may have appended in between.
 */
import { parentPort } from 'node:worker_threads';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import type { Request, Response } from './upload-protocol.js';
import { StagingFile } from './staging-file.js';

interface Upload {
  /** Running sha256 of the whole file, or null once it must be rebuilt from the file. */
  hash: Hash | null;
  /** How many bytes `hash` covers. */
  hashed: number;
  /** The staging file while a request appends to it. */
  file?: StagingFile;
  /** Resolves once the last closed file's background flush (if any) is done. */
  settled?: Promise<void>;
}

const uploads = new Map<string, Upload>();
const port = parentPort;
if (!port) throw new Error('upload-worker.ts must run in a worker thread');

function rehash(path: string, alg: string): string {
  const h = createHash(alg);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

async function handle(req: Request): Promise<Response> {
  switch (req.t) {
    case 'open': {
      let up = uploads.get(req.id);
      // One writer per upload: a second open would interleave bytes and lose track of a descriptor.
      if (up?.file) throw Object.assign(new Error(`upload ${req.id} is already being written`), { code: 'EBUSY' });
      const file = StagingFile.open(req.path, req.direct); // ENOENT when the upload does not exist
      if (!up) {
        // Unknown here (e.g. after a restart): a non-empty file's hash is rebuilt when asked for.
        up = { hash: file.size === 0 ? createHash('sha256') : null, hashed: 0 };
        uploads.set(req.id, up);
      }
      if (file.size !== up.hashed) up.hash = null; // another process appended since
      up.file = file;
      return { seq: req.seq };
    }
    case 'write': {
      const up = uploads.get(req.id);
      if (!up?.file) throw new Error(`upload ${req.id} is not open`);
      const data = new Uint8Array(req.buf, 0, req.len);
      // The write runs on the thread pool while this thread hashes the same bytes.
      const written = up.file.append(data);
      up.hash?.update(data);
      up.hashed += req.len;
      try {
        await written;
      } catch (e) {
        up.hash = null; // it saw bytes that may not have reached the file: rebuild when asked
        throw e;
      }
      return { seq: req.seq, buf: req.buf };
    }
    case 'close': {
      const up = uploads.get(req.id);
      if (!up?.file) return { seq: req.seq };
      const file = up.file;
      up.file = undefined;
      try {
        return { seq: req.seq, size: await file.close() };
      } catch (e) {
        up.hash = null; // the last block may be missing from the file
        throw e;
      } finally {
        up.settled = file.settled();
      }
    }
    case 'digest': {
      const up = uploads.get(req.id);
      if (up?.file) throw new Error(`upload ${req.id} is still being written`);
      if (up?.hash && req.alg === 'sha256' && statSync(req.path).size === up.hashed)
        return { seq: req.seq, hex: up.hash.copy().digest('hex') };
      return { seq: req.seq, hex: rehash(req.path, req.alg) };
    }
    case 'forget': {
      const up = uploads.get(req.id);
      const file = up?.file;
      if (file) await file.close().catch(() => undefined); // the upload is going away
      await file?.settled();
      await up?.settled;
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
