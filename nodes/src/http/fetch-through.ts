import { isOciError, oci, type Reference } from 'georeg/oci';
import type { NodeStatus } from '../status.js';
import type { Logger } from '../log.js';

/**
 * A manifest or tag a client asks for that this region does not hold yet: instead of a 404 while
 * replication catches up, the peers are asked and the content is copied from one that holds it
 * completely (through replication's copier: verified, with its referrers, the tag under
 * last-writer-wins), then read here again, where the trust gate decides as for any content. Only
 * when no reachable region has it is it MANIFEST_UNKNOWN, whose detail names the regions that could
 * not be asked. Without a replicator in reach there is no one to ask.
 */
export class ManifestFetchThrough {
  constructor(
    private readonly status: NodeStatus,
    private readonly log: Logger,
  ) {}

  async read<T>(repository: string, ref: Reference, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      const replication = this.status.replication;
      if (!replication || !isOciError(err, 'MANIFEST_UNKNOWN')) throw err;
      const started = performance.now();
      const outcome = await replication.fetch(repository, ref);
      const { failed, from } = outcome;
      if (failed) {
        this.log.warn('fetch-through from a peer region failed', {
          repository,
          reference: ref.digest ?? ref.tag,
          from,
          err: failed.reason,
        });
        if (failed.retry) throw oci('UNAVAILABLE', `${from} holds it, but copying it here failed (${failed.reason}); try again`);
        throw oci('MANIFEST_UNKNOWN', `${err.message}; ${from} holds it, but it cannot be copied here: ${failed.reason}`, { from });
      }
      if (outcome.fetched) {
        this.log.info('fetched through from a peer region', {
          repository,
          reference: ref.digest ?? ref.tag,
          from: outcome.from,
          ms: Math.round(performance.now() - started),
        });
        return read();
      }
      if (outcome.unreachable.length === 0) throw err;
      throw oci(
        'MANIFEST_UNKNOWN',
        `${err.message}; not in any region that answered, and ${outcome.unreachable.join(', ')} could not be asked`,
        { unreachable: outcome.unreachable },
      );
    }
  }
}
