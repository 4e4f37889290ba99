/**
 * How a blob appears under its name, and when it counts as there: a Put Blob (all or nothing) or a
 * server-side Copy Blob, which Azure may leave pending or fail. A blob is visible only once its copy
 * (if it was one) succeeded; a failed copy's leftover is written over.
 */
import type { BlobRequestConditions, BlockBlobClient, CopyStatusType } from '@azure/storage-blob';
import { alreadyThere, orAbsent } from './azure-answers.js';

/** Between looks at a copy still pending (one within an account usually completes in its request). */
export const COPY_POLL_MS = 200;
/** Tries to place a blob where failed copies keep being found, before giving up. */
const PLACE_TRIES = 3;

/** A blob is visible unless it is a copy that has not succeeded (yet). */
export function committed(props: { copyStatus?: CopyStatusType }): boolean {
  return props.copyStatus === undefined || props.copyStatus === 'success';
}

/**
 * Make `blob` hold its content through `write` (given the conditions to write with; true when
 * the blob is committed once it returns): only where nothing is yet, else over a failed copy's
 * leftover. When a copy of the same content is there already, wait for it to succeed.
 */
export async function place(blob: BlockBlobClient, write: (conditions: BlobRequestConditions) => Promise<boolean>): Promise<void> {
  let conditions: BlobRequestConditions = { ifNoneMatch: '*' };
  for (let tries = 1; ; tries++) {
    try {
      if (await write(conditions)) return;
    } catch (e) {
      if (!alreadyThere(e)) throw e;
    }
    const props = await settled(blob);
    if (props && committed(props)) return;
    if (tries === PLACE_TRIES) throw new Error(`${blob.name}: copy ${props?.copyStatus ?? 'vanished'} ${tries} times`);
    conditions = props?.etag ? { ifMatch: props.etag } : { ifNoneMatch: '*' };
  }
}

/** The blob's properties once no copy into it is pending; undefined when it is gone. */
async function settled(blob: BlockBlobClient): Promise<Awaited<ReturnType<BlockBlobClient['getProperties']>> | undefined> {
  for (;;) {
    const props = await orAbsent(blob.getProperties());
    if (props?.copyStatus !== 'pending') return props;
    await new Promise((resolve) => setTimeout(resolve, COPY_POLL_MS));
  }
}
