import { statfs } from 'node:fs/promises';
import { DENY_REASONS } from 'georeg/trust';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { Registry, RegistryStores } from './registry/registry.js';
import type { GcReport } from './registry/gc.js';
import type { PeerStatus } from 'georeg/proto';
import type { NodeStatus } from './status.js';
import type { OutboxPublisher } from './events/publisher.js';
import type { EventStreamState } from './events/stream-state.js';

/** Why an event application failed (the replicator's classification). */
const FAILURE_REASONS = ['unreachable', 'not_found', 'digest_mismatch', 'invalid', 'internal'];
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** The store inventory (blobs, manifests, repositories) is recounted at most this often. */
const INVENTORY_MS = 60_000;

export interface MetricsSources {
  region: string;
  version: string;
  /** Directory whose file system the free/capacity gauges report. */
  dataDir: string;
  registry: Registry;
  /** The registry's stores, counted for the inventory gauges (and the outbox depth). */
  stores: RegistryStores;
  status: NodeStatus;
  publisher?: OutboxPublisher;
}

interface Inventory {
  blobs: number;
  blobBytes: number;
  repositories: number;
  manifests: number;
  uploads: number;
}

type HttpSeries = {
  requests: Counter.Internal;
  duration: Histogram.Internal<'route' | 'method'>;
  received: Counter.Internal;
  sent: Counter.Internal;
};

/**
 * The node's Prometheus metrics in a registry of its own (several nodes can
 * share a process in tests). Counters of the request path are updated as
 * requests finish; everything else is read from its source at scrape time.
 * Metric names, labels and meanings are documented in docs/metrics.md.
 */
export class NodeMetrics {
  readonly registry = new PromRegistry();
  readonly #requests: Counter<'route' | 'method' | 'status'>;
  readonly #duration: Histogram<'route' | 'method'>;
  readonly #received: Counter<'route'>;
  readonly #sent: Counter<'route'>;
  readonly #gcRuns: Counter<'result'>;
  readonly #gcRemoved: Counter;
  readonly #gcLast: Gauge;
  readonly #series = new Map<string, HttpSeries>();
  #inventory?: Inventory;
  #inventoryAt = 0;
  #counting?: Promise<void>;

  constructor(private readonly src: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'georeg_info',
      help: 'Always 1: the region and version of this node.',
      labelNames: ['region', 'version'],
      registers,
    }).set({ region: src.region, version: src.version }, 1);
    this.#requests = new Counter({
      name: 'georeg_http_requests_total',
      help: 'HTTP requests answered, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'georeg_http_request_duration_seconds',
      help: 'HTTP request duration, to the last byte of the answer.',
      labelNames: ['route', 'method'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#received = new Counter({
      name: 'georeg_http_received_bytes_total',
      help: 'Bytes read from clients (headers and bodies).',
      labelNames: ['route'],
      registers,
    });
    this.#sent = new Counter({
      name: 'georeg_http_sent_bytes_total',
      help: 'Bytes written to clients (headers and bodies).',
      labelNames: ['route'],
      registers,
    });
    this.#gcRuns = new Counter({ name: 'georeg_gc_runs_total', help: 'Garbage collections run.', labelNames: ['result'], registers });
    for (const result of ['ok', 'failed']) this.#gcRuns.labels(result).inc(0);
    this.#gcRemoved = new Counter({ name: 'georeg_gc_removed_blobs_total', help: 'Blobs removed by garbage collection.', registers });
    this.#gcLast = new Gauge({
      name: 'georeg_gc_last_run_timestamp_seconds',
      help: 'When the last garbage collection finished (0: never).',
      registers,
    });
    this.#storeGauges(registers);
    this.#outboxMetrics(registers);
    this.#streamMetrics(registers);
    this.#trustMetrics(registers);
    this.#lockMetrics(registers);
    this.#replicationMetrics(registers);
  }

  /** One finished HTTP request. */
  request(route: string, method: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const m = METHODS.has(method) ? method : 'OTHER';
    const key = `${route} ${m} ${status}`;
    let s = this.#series.get(key);
    if (!s) {
      s = {
        requests: this.#requests.labels(route, m, String(status)),
        duration: this.#duration.labels(route, m),
        received: this.#received.labels(route),
        sent: this.#sent.labels(route),
      };
      this.#series.set(key, s);
    }
    s.requests.inc();
    s.duration.observe(seconds);
    if (bytesIn > 0) s.received.inc(bytesIn);
    if (bytesOut > 0) s.sent.inc(bytesOut);
  }

  /** One garbage collection: its report, or undefined when it failed. */
  gc(report: GcReport | undefined): void {
    this.#gcRuns.labels(report ? 'ok' : 'failed').inc();
    if (report && !report.dryRun) this.#gcRemoved.inc(report.blobsDeleted.length);
    this.#gcLast.set(Date.now() / 1000);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #storeGauges(registers: PromRegistry[]): void {
    const inventory = async (): Promise<Inventory | undefined> => {
      if (Date.now() - this.#inventoryAt >= INVENTORY_MS && !this.#counting) {
        // A count that fails (a store being closed, a file vanishing) leaves the last one in place: a scrape never fails for it.
        this.#counting = this.#count()
          .catch(() => undefined)
          .finally(() => (this.#counting = undefined));
      }
      // The first scrape waits for a count; later ones answer with the last one while a recount runs.
      if (!this.#inventory) await this.#counting;
      return this.#inventory;
    };
    const gauge = (name: string, help: string, read: (i: Inventory) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const i = await inventory();
          if (i) this.set(read(i));
        },
      });
    };
    gauge('georeg_storage_blobs', 'Blobs stored (recounted at most once a minute).', (i) => i.blobs);
    gauge('georeg_storage_blob_bytes', 'Bytes of blobs stored (recounted at most once a minute).', (i) => i.blobBytes);
    gauge('georeg_repositories', 'Repositories (recounted at most once a minute).', (i) => i.repositories);
    gauge('georeg_manifests', 'Manifests linked into repositories (recounted at most once a minute).', (i) => i.manifests);
    gauge('georeg_upload_sessions', 'Open upload sessions (recounted at most once a minute).', (i) => i.uploads);
    const dir = this.src.dataDir;
    new Gauge({
      name: 'georeg_storage_free_bytes',
      help: "Free bytes on the data directory's file system.",
      registers,
      async collect() {
        const s = await statfs(dir);
        this.set(s.bavail * s.bsize);
      },
    });
    new Gauge({
      name: 'georeg_storage_capacity_bytes',
      help: "Size of the data directory's file system.",
      registers,
      async collect() {
        const s = await statfs(dir);
        this.set(s.blocks * s.bsize);
      },
    });
  }

  async #count(): Promise<void> {
    const { blobs, meta } = this.src.stores;
    const i: Inventory = { blobs: 0, blobBytes: 0, repositories: 0, manifests: 0, uploads: 0 };
    for await (const b of blobs.list()) {
      i.blobs++;
      i.blobBytes += b.size;
    }
    const repos = await meta.listRepositories();
    i.repositories = repos.length;
    for (const r of repos) for await (const _ of meta.listManifests(r)) i.manifests++;
    for await (const _ of meta.listUploads()) i.uploads++;
    this.#inventory = i;
    this.#inventoryAt = Date.now();
  }

  #outboxMetrics(registers: PromRegistry[]): void {
    const { stores, publisher } = this.src;
    new Gauge({
      name: 'georeg_outbox_depth',
      help: 'Events written but not yet acknowledged by JetStream.',
      registers,
      collect() {
        this.set(stores.meta.outboxDepth());
      },
    });
    new Counter({
      name: 'georeg_outbox_published_total',
      help: 'Events published to JetStream.',
      registers,
      collect() {
        this.reset();
        this.inc(publisher?.published ?? 0);
      },
    });
  }

  /** This region's event stream, as JetStream last described it (0 while unknown, and with no NATS). */
  #streamMetrics(registers: PromRegistry[]): void {
    const stream = this.src.publisher?.stream;
    const gauge = (name: string, help: string, read: (s: EventStreamState) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const s = await stream?.read();
          this.set(s ? read(s) : 0);
        },
      });
    };
    gauge('georeg_event_stream_messages', "Events held in this region's JetStream stream.", (s) => s.messages);
    gauge('georeg_event_stream_bytes', "Bytes of the events held in this region's JetStream stream.", (s) => s.bytes);
    gauge(
      'georeg_event_stream_oldest_timestamp_seconds',
      "When the oldest event held in this region's JetStream stream was stored (Unix time; 0: none held).",
      (s) => (s.oldest ? Date.parse(s.oldest) / 1000 : 0),
    );
  }

  #trustMetrics(registers: PromRegistry[]): void {
    const gate = this.src.registry.trust;
    new Counter({
      name: 'georeg_trust_decisions_total',
      help: 'Manifest pulls checked against a trust policy, by mode and result (verified or the refusal reason).',
      labelNames: ['mode', 'result'],
      registers,
      collect() {
        this.reset();
        // Every mode and result from 0, so the first refusal after a start shows in rate() and increase().
        for (const mode of ['enforce', 'audit']) for (const result of ['verified', ...DENY_REASONS]) this.labels(mode, result).inc(0);
        for (const [key, n] of Object.entries(gate.counts())) {
          const [mode = '', result = ''] = key.split('/');
          this.labels(mode, result).inc(n);
        }
      },
    });
  }

  #lockMetrics(registers: PromRegistry[]): void {
    const locks = this.src.registry.locks;
    new Counter({
      name: 'georeg_lock_changes_total',
      help: 'Lock (changeable attribute) changes stored, by where they were made: local or replicated.',
      labelNames: ['origin'],
      registers,
      collect() {
        this.reset();
        for (const [origin, n] of Object.entries(locks.changes)) this.labels(origin).inc(n);
      },
    });
    new Gauge({
      name: 'georeg_locked_targets',
      help: 'Repositories, tags and manifests with at least one changeable attribute disabled.',
      registers,
      async collect() {
        this.set(await locks.lockedCount());
      },
    });
  }

  #replicationMetrics(registers: PromRegistry[]): void {
    const target = this.src.region;
    const status = this.src.status;
    let peers: Promise<PeerStatus[]> | undefined;
    // One read of the replicator's state per scrape, shared by every replication metric.
    const read = (): Promise<PeerStatus[]> => {
      peers ??= (status.replication?.peers() ?? Promise.resolve([])).finally(() => setImmediate(() => (peers = undefined)));
      return peers;
    };
    const labelNames = ['source', 'target'] as const;
    const gauge = (name: string, help: string, value: (p: PeerStatus) => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          for (const p of await read()) this.labels(p.region, target).set(value(p));
        },
      });
    };
    const counter = (name: string, help: string, value: (p: PeerStatus) => number): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          for (const p of await read()) this.labels(p.region, target).inc(value(p));
        },
      });
    };
    gauge('georeg_replication_lag_seconds', 'Age of the oldest event from the source region not yet applied here.', (p) => p.lagSeconds);
    gauge('georeg_replication_pending_events', 'Events from the source region not yet applied here.', (p) => p.pendingEvents);
    gauge('georeg_replication_bytes_in_flight', 'Blob bytes being copied from the source region now.', (p) => p.bytesInFlight);
    gauge(
      'georeg_replication_anti_entropy_timestamp_seconds',
      'When the last anti-entropy pass with the source region completed with nothing left unrepaired (Unix time; 0: none yet).',
      (p) => (p.lastAntiEntropy ? Date.parse(p.lastAntiEntropy) / 1000 : 0),
    );
    gauge('georeg_replication_peer_up', '1 when the source region answers (probed every few seconds), else 0.', (p) => (p.up ? 1 : 0));
    gauge(
      'georeg_replication_peer_rtt_seconds',
      'Round trip of the health probes to the source region, smoothed (0 until one answered): how near it is.',
      (p) => (p.rttMs ?? 0) / 1000,
    );
    gauge('georeg_replication_peer_drained', '1 when the source region says it is drained (no client is sent there), else 0.', (p) =>
      p.drained ? 1 : 0,
    );
    counter('georeg_replication_events_applied_total', 'Events from the source region applied here.', (p) => p.applied);
    counter('georeg_replication_blobs_total', 'Blobs copied from the source region.', (p) => p.blobs);
    counter('georeg_replication_bytes_total', 'Blob bytes copied from the source region.', (p) => p.bytes);
    counter('georeg_replication_retries_total', 'Event applications retried after a failure.', (p) => p.retries);
    counter(
      'georeg_replication_deferred_total',
      "Events handed back to wait for an earlier event of their repository, applying on another of this region's nodes.",
      (p) => p.deferred,
    );
    counter('georeg_replication_conflicts_total', 'Tag changes from the source region that lost to a newer change.', (p) => p.conflicts);
    counter('georeg_replication_repairs_total', 'Repairs made by anti-entropy.', (p) => p.repairs);
    counter(
      'georeg_replication_parked_total',
      'Events set aside because their content is corrupt at the source region (anti-entropy tries again each pass).',
      (p) => p.parked,
    );
    new Counter({
      name: 'georeg_replication_failures_total',
      help: 'Failed event applications, by reason.',
      labelNames: ['source', 'target', 'reason'],
      registers,
      async collect() {
        this.reset();
        for (const p of await read()) {
          for (const reason of FAILURE_REASONS) this.labels(p.region, target, reason).inc(p.failuresByReason[reason] ?? 0);
        }
      },
    });
  }
}
