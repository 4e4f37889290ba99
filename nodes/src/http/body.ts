import type { IncomingMessage } from 'node:http';
import { oci, type ErrorKind } from 'georeg/oci';

/**
 * Read a small request body into memory, refusing more than `limit` bytes. On
 * refusal the rest of the body is drained (not buffered) so the connection can
 * carry the error response.
 */
export function readLimited(req: IncomingMessage, limit: number, tooLarge: ErrorKind): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooBig = (): void => {
      req.removeListener('data', onData);
      req.resume();
      reject(oci(tooLarge, `body exceeds ${limit} bytes`));
    };
    const declared = req.headers['content-length'];
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) tooBig();
      else chunks.push(chunk);
    };
    if (declared !== undefined && Number(declared) > limit) return tooBig();
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total)));
    req.once('error', reject);
  });
}

/** Whether a request carries a body at all (length > 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return Number(cl) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Count the body bytes Node's parser hands `req` (after chunked framing is removed), whoever reads
 * them: the access log's `bytesIn`. `Content-Length` is absent on chunked bodies (podman's PATCHes).
 */
export function countBody(req: IncomingMessage): () => number {
  let bytes = 0;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && chunk !== undefined) bytes += (chunk as Buffer | string).length;
    return push(chunk, encoding);
  };
  return () => bytes;
}
