/**
 * A stream staged as uncommitted blocks of one block blob, as it arrives: bytes are copied into a
 * block buffer of at most `blockBytes`, and each full block is staged (Put Block) while the next
 * fills, at most MAX_IN_FLIGHT at once; so memory stays at (MAX_IN_FLIGHT + 1) blocks whatever
 * the stream's length, and a slow store slows the source down (back-pressure) instead of piling
 * bytes up. The blocks become the blob's content only when a block list naming them is committed.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';

/** Blocks being sent at once; one more fills meanwhile. */
const MAX_IN_FLIGHT = 2;

export interface StagedBlocks {
  /** Ids of the staged blocks, in stream order. */
  ids: string[];
  /** Bytes staged. */
  bytes: number;
  /**
   * The source's error, when it failed (a client gone mid-body): every byte it gave before
   * failing is staged, so the caller can commit them and then report it.
   */
  sourceError?: unknown;
}

/**
 * A block id: random, so two writers staging onto one blob (a race the commit's condition
 * settles) never replace each other's blocks. All of one blob's ids have the same length.
 */
function blockId(): string {
  return randomBytes(18).toString('base64');
}

/**
 * Stage everything `source` gives as blocks of `blob`, each `onBytes` first (a running hash).
 * Rejects when staging a block fails (nothing to commit then); resolves with the blocks staged and,
 * if the source failed, its error.
 */
export async function stageStream(
  blob: BlockBlobClient,
  source: Readable,
  blockBytes: number,
  onBytes?: (bytes: Buffer) => void,
): Promise<StagedBlocks> {
  const ids: string[] = [];
  const sending: Promise<unknown>[] = [];
  let block = Buffer.allocUnsafe(blockBytes);
  let filled = 0;
  let bytes = 0;
  let storeError: unknown;

  /** Stage what the block buffer holds, waiting while MAX_IN_FLIGHT are being sent. */
  const send = async (): Promise<void> => {
    if (filled === 0) return;
    const id = blockId();
    const body = block.subarray(0, filled);
    ids.push(id);
    bytes += filled;
    const sent = blob.stageBlock(id, body, body.length);
    sent.catch(() => undefined); // awaited below, in order
    sending.push(sent);
    block = Buffer.allocUnsafe(blockBytes); // the one being sent is the request's until it completes
    filled = 0;
    while (sending.length >= MAX_IN_FLIGHT) await sending.shift();
  };
  const sendOrMark = (): Promise<void> =>
    send().catch((e: unknown) => {
      storeError = e;
      throw e;
    });

  let sourceError: unknown;
  try {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      onBytes?.(data);
      for (let at = 0; at < data.length;) {
        const n = data.copy(block, filled, at);
        filled += n;
        at += n;
        if (filled === blockBytes) await sendOrMark();
      }
    }
  } catch (e) {
    if (storeError !== undefined) throw e;
    sourceError = e;
  }
  await send();
  await Promise.all(sending);
  return { ids, bytes, ...(sourceError !== undefined && { sourceError }) };
}
