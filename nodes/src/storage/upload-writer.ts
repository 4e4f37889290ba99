import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type { RequestBody, Response } from './upload-protocol.js';

/** Bytes posted to the worker in one message. */
const BATCH = 1024 * 1024;
/** Bytes posted but not yet written before the source is paused. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

export class WorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

/**
 * The main-thread side of the upload worker: streams a source's chunks to the
 * worker with bounded bytes in flight, and asks it for digests. One worker serves every upload.
 */
export class UploadWriter {
  #worker?: Worker;
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (r: Response) => void; reject: (e: Error) => void }>();

  #call(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<Response> {
    const worker = this.#ensure();
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      worker.postMessage({ ...body, seq }, transfer);
    }).then((r) => {
      const res = r as Response;
      if (res.error) throw new WorkerError(res.error.message, res.error.code);
      return res;
    });
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./upload-worker.js', import.meta.url));
    worker.on('message', (res: Response) => {
      const p = this.#pending.get(res.seq);
      this.#pending.delete(res.seq);
      p?.resolve(res);
    });
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`upload worker exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again. An idle
    // worker must not keep the process alive; pending calls are awaited by their callers.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  /**
   * Append everything `source` yields to the file at `path`; resolves with the
   * file's new size. If the source fails, the bytes already sent are still
   * written (and hashed) before the promise rejects with the source's error.
   */
  async append(id: string, path: string, source: Readable): Promise<number> {
    await this.#call({ t: 'open', id, path });
    const acks: Promise<Response>[] = [];
    const sizes: number[] = [];
    let inFlight = 0;
    let batch: ArrayBuffer[] = [];
    let batchBytes = 0;
    const send = async (): Promise<void> => {
      if (batchBytes === 0) return;
      const bytes = batchBytes;
      acks.push(this.#call({ t: 'write', id, bufs: batch }, batch));
      sizes.push(bytes);
      inFlight += bytes;
      batch = [];
      batchBytes = 0;
      while (inFlight > MAX_IN_FLIGHT) {
        await acks.shift();
        inFlight -= sizes.shift() ?? 0;
      }
    };
    let failure: unknown;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        batch.push(owned(chunk));
        batchBytes += chunk.length;
        if (batchBytes >= BATCH) await send();
      }
    } catch (e) {
      failure = e;
    }
    await send().catch((e: unknown) => (failure ??= e)); // what arrived before a failure is kept too
    const written = await Promise.allSettled(acks);
    const closed = await this.#call({ t: 'close', id });
    const writeError = written.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) throw failure;
    if (writeError) throw writeError.reason;
    return closed.size ?? 0;
  }

  /** Hex digest of the file's bytes with `alg`: from the running hash when it has one. */
  async digest(id: string, path: string, alg: string): Promise<string> {
    return (await this.#call({ t: 'digest', id, path, alg })).hex ?? '';
  }

  /** Drop the worker's state for an upload (committed or deleted). */
  async forget(id: string): Promise<void> {
    if (this.#worker) await this.#call({ t: 'forget', id });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    await w?.terminate();
  }
}

/**
 * A copy of the chunk in an ArrayBuffer of its own, to move to the worker. (Moving
 * the source's own memory would detach buffers the caller may still hold.)
 */
function owned(chunk: Buffer | string): ArrayBuffer {
  const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  const copy = new ArrayBuffer(b.byteLength);
  new Uint8Array(copy).set(b);
  return copy;
}
