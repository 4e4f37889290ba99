import { isOciError, oci, OciError, parseManifest, type Reference } from 'georeg/oci';
import type { FetchOutcome, NodeStatus } from '../status.js';
import type { Logger } from '../log.js';
import type { FetchKind, RoutingMetrics } from '../routing-metrics.js';

/**
 * Content a client needs that this region does not hold yet, taken from the peers instead of
 * failing while replication catches up: a manifest or tag to read, or what a manifest being pushed
 * here needs (a push split across regions). The copy goes through replication's copier (verified,
 * with its referrers, a tag under last-writer-wins), then the request is tried once more here,
 * where the trust gate decides as for any content. Only when no reachable region has it does the
 * request fail as before, and the error's detail names the regions that could not be asked.
 * Without a replicator in reach there is no one to ask.
 */
export class ManifestFetchThrough {
  constructor(
    private readonly status: NodeStatus,
    private readonly log: Logger,
    private readonly metrics?: RoutingMetrics,
  ) {}

  /** A manifest GET or HEAD: MANIFEST_UNKNOWN here asks the peers for the reference. */
  read<T>(repository: string, ref: Reference, read: () => Promise<T>): Promise<T> {
    return this.#retry('manifest', 'MANIFEST_UNKNOWN', read, (replication) => replication.fetch(repository, ref), {
      repository,
      reference: ref.digest ?? ref.tag,
    });
  }

  /** A manifest PUT: MANIFEST_BLOB_UNKNOWN here copies its missing blobs and children from the peers holding them in the repository. */
  put<T>(repository: string, body: Buffer, contentType: string | undefined, put: () => Promise<T>): Promise<T> {
    return this.#retry(
      'push',
      'MANIFEST_BLOB_UNKNOWN',
      put,
      (replication) => replication.fetchReferences(repository, parseManifest(body, contentType)),
      {
        repository,
        pushed: true,
      },
    );
  }

  async #retry<T>(
    fetchKind: FetchKind,
    kind: 'MANIFEST_UNKNOWN' | 'MANIFEST_BLOB_UNKNOWN',
    attempt: () => Promise<T>,
    fetch: (replication: NonNullable<NodeStatus['replication']>) => Promise<FetchOutcome>,
    what: Record<string, unknown>,
  ): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      const replication = this.status.replication;
      if (!replication || !isOciError(err, kind)) throw err;
      const started = performance.now();
      const outcome = await fetch(replication);
      const seconds = (performance.now() - started) / 1000;
      this.metrics?.fetched(fetchKind, outcome.fetched ? 'fetched' : outcome.failed ? 'failed' : 'absent', seconds);
      this.#explain(err, outcome, what);
      this.log.info('fetched through from a peer region', { ...what, from: outcome.from, ms: Math.round(seconds * 1000) });
      return attempt();
    }
  }

  /** Returns when the content was fetched; otherwise throws what the client is told: `err`, with the peers' part. */
  #explain(err: OciError, outcome: FetchOutcome, what: Record<string, unknown>): void {
    const { failed, from, unreachable } = outcome;
    if (failed) {
      this.log.warn('fetch-through from a peer region failed', { ...what, from, err: failed.reason });
      if (failed.retry) throw oci('UNAVAILABLE', `${from} holds it, but copying it here failed (${failed.reason}); try again`);
      throw new OciError(err.kind, `${err.message}; ${from} holds it, but it cannot be copied here: ${failed.reason}`, { from });
    }
    if (outcome.fetched) return;
    if (unreachable.length === 0) throw err;
    throw new OciError(err.kind, `${err.message}; not in any region that answered, and ${unreachable.join(', ')} could not be asked`, {
      ...(typeof err.detail === 'object' && err.detail),
      unreachable,
    });
  }
}
