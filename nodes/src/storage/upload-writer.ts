import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type { RequestBody, Response } from './upload-protocol.js';

/** Bytes posted to the worker in one message. */
const BATCH = 1024 * 1024;
/** Bytes posted but not yet written before the source is paused. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

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
 * The main-thread side of the upload worker: copies a source's chunks into
 * 1 MiB batch buffers that move (not copy) to the worker and come back to be
 * reused, with at most MAX_IN_FLIGHT bytes on their way, so memory stays flat
 * whatever the blob size. It also asks the worker for digests. One worker
 * serves every upload.
 */
export class UploadWriter {
  /** `direct`: write staging files with O_DIRECT where the filesystem allows it. */
  constructor(readonly direct: boolean) {}

  #worker?: Worker;
  #seq = 0;
  /** Batch buffers back from the worker, for reuse. */
  readonly #spare: ArrayBuffer[] = [];
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
    // The source may fail while the worker opens the file, before the loop below listens (a
    // peer's blob stream that errors at once), or after an open that failed: the loop throws
    // its error, and the caller has the open's; neither may escape as an uncaught 'error' event.
    source.on('error', () => undefined);
    await this.#call({ t: 'open', id, path, direct: this.direct });
    const acks: Promise<Response>[] = [];
    let buf: ArrayBuffer | undefined; // taken when the first byte arrives
    let fill = 0;
    const send = async (): Promise<void> => {
      if (!buf || fill === 0) return;
      const sent = buf;
      const ack = this.#call({ t: 'write', id, buf: sent, len: fill }, [sent]).then((res) => this.#give(res));
      ack.catch(() => undefined); // a failed write is reported once all acks have settled, below
      acks.push(ack);
      buf = undefined;
      fill = 0;
      while (acks.length * BATCH > MAX_IN_FLIGHT) await acks.shift();
    };
    let failure: unknown;
    try {
      for await (const chunk of source as AsyncIterable<Buffer | string>) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (let at = 0; at < bytes.length;) {
          buf ??= this.#take();
          const n = Math.min(BATCH - fill, bytes.length - at);
          new Uint8Array(buf, fill, n).set(bytes.subarray(at, at + n));
          fill += n;
          at += n;
          if (fill === BATCH) await send();
        }
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

  /** A batch buffer: a returned one when there is one, so steady uploads allocate nothing. */
  #take(): ArrayBuffer {
    return this.#spare.pop() ?? new ArrayBuffer(BATCH);
  }

  /** Keep a buffer the worker handed back, up to what one upload keeps in flight. */
  #give(res: Response): Response {
    if (res.buf && res.buf.byteLength === BATCH && this.#spare.length * BATCH < MAX_IN_FLIGHT) this.#spare.push(res.buf);
    return res;
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
