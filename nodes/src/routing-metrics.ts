import { Counter, Histogram, type Registry as PromRegistry } from 'prom-client';

/** Where a client was sent instead of being served here: another region, or the storage service holding the blob. */
export type RedirectReason = 'placement' | 'nearest' | 'storage';
/** What a fetch-through was for: a manifest or tag read, a pushed manifest's missing content, or a blob streamed to a client. */
export type FetchKind = 'manifest' | 'push' | 'blob';
export type FetchResult = 'fetched' | 'absent' | 'failed';

const FETCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Routing's metrics, on the node's registry: blob GETs sent elsewhere (by why) and
 * fetch-throughs (by kind and result, with their latency). Every series exists from the start
 * at 0, so a rate or an alert has something to read before the first event.
 */
export class RoutingMetrics {
  readonly #redirects: Counter<'reason'>;
  readonly #fetches: Counter<'kind' | 'result'>;
  readonly #fetchSeconds: Histogram<'kind'>;

  constructor(registry: PromRegistry) {
    const registers = [registry];
    this.#redirects = new Counter({
      name: 'georeg_routing_redirects_total',
      help: 'Blob GETs answered 307: to another region, placement (the client belongs there) or nearest (not held here yet); or storage (to a signed URL of the storage service).',
      labelNames: ['reason'],
      registers,
    });
    this.#fetches = new Counter({
      name: 'georeg_fetch_through_total',
      help: 'Content copied from a peer region for a waiting client, by kind (manifest read, pushed manifest, blob streamed) and result.',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.#fetchSeconds = new Histogram({
      name: 'georeg_fetch_through_seconds',
      help: 'Time a client waited on a fetch-through (asking the peers and copying).',
      labelNames: ['kind'],
      buckets: FETCH_BUCKETS,
      registers,
    });
    for (const reason of ['placement', 'nearest', 'storage'] as const) this.#redirects.labels(reason).inc(0);
    for (const kind of ['manifest', 'push', 'blob'] as const) {
      for (const result of ['fetched', 'absent', 'failed'] as const) this.#fetches.labels(kind, result).inc(0);
      this.#fetchSeconds.zero({ kind });
    }
  }

  redirected(reason: RedirectReason): void {
    this.#redirects.labels(reason).inc();
  }

  fetched(kind: FetchKind, result: FetchResult, seconds: number): void {
    this.#fetches.labels(kind, result).inc();
    this.#fetchSeconds.labels(kind).observe(seconds);
  }
}
