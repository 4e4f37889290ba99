/**
 * A stream cut into pieces of `pieceBytes` as it arrives, each handed to `send` (a block staged on
 * Azure, an object put on S3): bytes are copied into a piece buffer, and each full piece is sent while
 * the next fills, at most `inFlight` at once; so memory stays at (inFlight + 1) pieces whatever the
 * stream's length, and a slow store slows the source down (back-pressure) instead of piling bytes up.
 * With `inFlight` 1 a piece is sent only once every piece before it was: a failure leaves the sent
 * pieces a prefix of the stream.
 */
import type { Readable } from 'node:stream';

export interface PieceOptions {
  /** Pieces being sent at once; one more fills meanwhile. */
  inFlight: number;
  /** Called with the source's bytes before they are cut (a running hash); never with `head`. */
  onBytes?: (bytes: Buffer) => void;
  /** Bytes the first piece starts with (what an earlier append left in a short last piece). */
  head?: Buffer;
}

export interface Cut {
  /** Bytes sent, `head` included. */
  bytes: number;
  /**
   * The source's error, when it failed (a client gone mid-body): every byte it gave before
   * failing was sent, so the caller can keep them and then report it.
   */
  sourceError?: unknown;
}

/**
 * Send everything `source` gives (after `head`) in pieces of `pieceBytes`, the last one shorter.
 * Rejects when sending a piece fails; resolves with what was sent and, if the source failed, its
 * error. A source that gives nothing sends nothing, not even `head`.
 */
export async function sendInPieces(
  source: Readable,
  pieceBytes: number,
  send: (piece: Buffer) => Promise<unknown>,
  { inFlight, onBytes, head }: PieceOptions,
): Promise<Cut> {
  const sending: Promise<unknown>[] = [];
  let piece = Buffer.allocUnsafe(pieceBytes);
  let filled = head ? head.copy(piece) : 0;
  let fresh = 0;
  let bytes = 0;
  let storeError: unknown;

  /** Send what the piece buffer holds, waiting while `inFlight` are being sent. */
  const flush = async (): Promise<void> => {
    if (fresh === 0 || filled === 0) return;
    const body = piece.subarray(0, filled);
    bytes += filled;
    const sent = send(body);
    sent.catch(() => undefined); // awaited below, in order
    sending.push(sent);
    piece = Buffer.allocUnsafe(pieceBytes); // the one being sent is the request's until it completes
    filled = 0;
    while (sending.length >= inFlight) await sending.shift();
  };
  const flushOrMark = (): Promise<void> =>
    flush().catch((e: unknown) => {
      storeError = e;
      throw e;
    });

  let sourceError: unknown;
  try {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      onBytes?.(data);
      fresh += data.length;
      for (let at = 0; at < data.length;) {
        const n = data.copy(piece, filled, at);
        filled += n;
        at += n;
        if (filled === pieceBytes) await flushOrMark();
      }
    }
  } catch (e) {
    if (storeError !== undefined) throw e;
    sourceError = e;
  }
  await flush();
  await Promise.all(sending);
  return { bytes, ...(sourceError !== undefined && { sourceError }) };
}
