import type { ChannelCredentials } from '@grpc/grpc-js';
import { PeerStatus } from 'georeg/proto';
import type { BlobStream, FetchOutcome, Peer, RegionLocation, RegionView, ReplicationStatusSource } from 'georeg/nodes';
import type { Digest, ParsedManifest, Reference } from 'georeg/oci';
import { PeerClient } from './peer-client.js';
import { PeerQueries } from './peer-queries.js';
import { FetchThrough } from './fetch-through.js';
import { streamBlob } from './blob-stream.js';
import type { HealthOf, PeerHealth } from './peer-health.js';
import { Copier } from './copier.js';
import type { RegionStore } from './region-store.js';
import type { ReportedStatus } from './store-server.js';

/** A status report this old says nothing of now: the replicate process is down or stuck. */
const STALE_MS = 15_000;

/**
 * The node's view of replication when a separate `georeg replicate` process
 * runs it: the status that process last reported over the region store (a
 * report older than 15 s shows as an error on every peer), and the node's own
 * questions to its peers (where an artifact is, who holds a blob).
 */
export class ReportedReplication implements ReplicationStatusSource {
  #last?: ReportedStatus;
  readonly #clients: PeerClient[];
  readonly #queries: PeerQueries;
  readonly #fetching: FetchThrough;
  readonly #health: HealthOf;
  readonly #store: RegionStore;

  constructor(
    private readonly configured: Peer[],
    /** The node's own region store: content fetched through for a client is written here, in the node's process. */
    store: RegionStore,
    channel?: ChannelCredentials,
    private readonly now: () => number = Date.now,
  ) {
    this.#clients = configured.map((p) => new PeerClient(p.region, p.address, channel));
    this.#store = store;
    // As the replicate process's probes last found each peer.
    const health = (region: string): PeerHealth => {
      const p = this.#last?.peers.find((x) => x.region === region);
      return { up: p?.up === true && this.#fresh(), drained: p?.drained ?? false, rttMs: p?.rttMs, publicUrl: p?.publicUrl };
    };
    this.#health = health;
    this.#queries = new PeerQueries(this.#clients, health);
    this.#fetching = new FetchThrough(this.#clients, health, new Copier(store));
  }

  report(status: ReportedStatus): void {
    this.#last = status;
  }

  #fresh(): boolean {
    return this.#last !== undefined && this.now() - this.#last.at < STALE_MS;
  }

  async peers(): Promise<PeerStatus[]> {
    const last = this.#last;
    const silent = !last
      ? 'the replicate process (georeg replicate) has not reported yet'
      : !this.#fresh()
        ? `no report from the replicate process for ${Math.round((this.now() - last.at) / 1000)} s`
        : undefined;
    return this.configured.map((p) => {
      const known = last?.peers.find((x) => x.region === p.region);
      const base = known ?? PeerStatus.fromPartial({ region: p.region });
      return silent ? { ...base, up: false, lastError: silent } : base;
    });
  }

  streamBlob(repository: string, digest: Digest): Promise<BlobStream | undefined> {
    return streamBlob(this.#clients, this.#health, this.#store, repository, digest);
  }

  views(): Promise<RegionView[]> {
    return this.#queries.views();
  }

  locate(repository: string, reference: string): Promise<RegionLocation[]> {
    return this.#queries.locate(repository, reference);
  }

  findBlob(repository: string, digest: string, region?: string): Promise<string | undefined> {
    return this.#queries.findBlob(repository, digest, region);
  }

  publicUrlOf(region: string): string | undefined {
    const h = this.#health(region);
    return h.up ? h.publicUrl : undefined;
  }

  fetch(repository: string, reference: Reference): Promise<FetchOutcome> {
    return this.#fetching.fetch(repository, reference);
  }

  fetchReferences(repository: string, manifest: Pick<ParsedManifest, 'blobs' | 'children'>): Promise<FetchOutcome> {
    return this.#fetching.references(repository, manifest);
  }

  close(): void {
    this.#clients.forEach((c) => c.close());
  }
}
