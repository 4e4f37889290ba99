/**
 * A stream staged as uncommitted blocks of one block blob, as it arrives (pieces.ts: at most
 * `blockBytes` each, two being staged while a third fills). The blocks become the blob's content
 * only when a block list naming them is committed.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';
import { sendInPieces } from './pieces.js';

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
  const stage = (block: Buffer): Promise<unknown> => {
    const id = blockId();
    ids.push(id);
    return blob.stageBlock(id, block, block.length);
  };
  return { ids, ...(await sendInPieces(source, blockBytes, stage, { inFlight: MAX_IN_FLIGHT, onBytes })) };
}
