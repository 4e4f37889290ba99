import type { PeerStatus } from 'georeg/proto/status';
import type { MetaStore } from './meta/store.js';
import type { Readable } from 'node:stream';
import type { Digest, ParsedManifest, Reference } from 'georeg/oci';
import type { Registry } from './registry/registry.js';

/** The state of a region's copy, from what Locate answered. */
export function toState(
  digest: string | undefined,
  complete: boolean,
  missing: string[],
): Pick<RegionLocation, 'state' | 'digest' | 'missing'> {
  if (!digest) return { state: 'absent' };
  return complete ? { state: 'complete', digest } : { state: 'incomplete', digest, missing };
}
import type { OutboxPublisher } from './events/publisher.js';
import type { EventStreamState } from './events/stream-state.js';
import type { RegionDrain } from './drain.js';

/** Whether one region holds an artifact, as GET /georeg/v1/where reports it. */
export interface RegionLocation {
  region: string;
  /** complete: everything here; incomplete: the manifest is, some content is not yet; absent; unreachable: no answer. */
  state: 'complete' | 'incomplete' | 'absent' | 'unreachable';
  digest?: string;
  missing?: string[];
  error?: string;
}

/** Where the node's replication status comes from (the replicator, when one runs in this process). */
export interface ReplicationStatusSource {
  peers(): Promise<PeerStatus[]>;
  /** Every peer region's own view of replication into it, asked at once (GET /georeg/v1/replication?all=true). */
  views(): Promise<RegionView[]>;
  /** Ask every peer region whether it holds `reference` of `repository`. */
  locate(repository: string, reference: string): Promise<RegionLocation[]>;
  /** The public URL of the nearest peer region that is up and holds blob `digest` in `repository` (only `region`, when named). */
  findBlob(repository: string, digest: string, region?: string): Promise<string | undefined>;
  /** A peer region's registry URL as clients reach it, while it answers its probes. */
  publicUrlOf(region: string): string | undefined;
  /** Copy `reference` of `repository` here from a peer region that holds it completely, if one does. */
  fetch(repository: string, reference: Reference): Promise<FetchOutcome>;
  /** A blob this region does not hold, streamed from a peer that holds it in `repository` while it is stored here; undefined when no reachable peer does. */
  streamBlob(repository: string, digest: Digest): Promise<BlobStream | undefined>;
  /** Copy the blobs and child manifests a manifest pushed here needs and lacks from peers that hold them in `repository`. */
  fetchReferences(repository: string, manifest: Pick<ParsedManifest, 'blobs' | 'children'>): Promise<FetchOutcome>;
}

/** A blob on its way from a peer: its size, and its bytes for the client. */
export interface BlobStream {
  size: number;
  stream: Readable;
}

/** What a fetch-through did: whether a peer held the content (and which), and the peers that could not be asked. */
export interface FetchOutcome {
  fetched: boolean;
  from?: string;
  unreachable: string[];
  /** A holder was found but the copy failed: why, and whether trying again may help (not for content corrupt there). */
  failed?: { reason: string; retry: boolean };
}

/**
 * What another region says of replication into it, or why it could not be asked; and, from this
 * region's JetStream (known while that region is down), how many of this region's events it has
 * not applied yet.
 */
export interface RegionView {
  region: string;
  peers?: PeerStatus[];
  error?: string;
  pendingFromHere?: number;
}

export interface NodeStatusSnapshot {
  region: string;
  /** Out of routing: peers send no client here (georeg region drain). */
  drained: boolean;
  outbox: { depth: number; published: number; lastError?: string } | null;
  /** This region's event stream: its size and oldest event, as JetStream last said (null: no events, no nats.url). */
  stream: EventStreamState | null;
  peers: PeerStatus[];
  /** With `?all=true`: every peer region's own view (the whole matrix of region pairs). */
  regions?: RegionView[];
}

/** What GET /georeg/v1/replication answers: this region's outbox and event stream, and its replication from each peer. */
export class NodeStatus {
  replication?: ReplicationStatusSource;

  constructor(
    readonly region: string,
    private readonly registry: Registry,
    private readonly meta: MetaStore,
    /** Whether this region is out of routing (its peers learn it from their probes). */
    readonly drain: RegionDrain,
    private readonly publisher?: OutboxPublisher,
  ) {}

  /** This region's answer, then every peer's. */
  async where(repository: string, ref: Reference): Promise<RegionLocation[]> {
    const here = await this.registry.replication.locate(repository, ref);
    const reference = ref.digest ?? ref.tag;
    const local: RegionLocation = { region: this.region, ...toState(here.digest, here.complete, here.missing) };
    return [local, ...((await this.replication?.locate(repository, reference)) ?? [])];
  }

  /** This region's status; with `all`, every peer region's own view too (asked at once). */
  async snapshot(all = false): Promise<NodeStatusSnapshot> {
    const p = this.publisher;
    const [peers, regions, stream] = await Promise.all([
      this.replication?.peers(),
      all ? this.replication?.views() : undefined,
      p?.stream.read(),
    ]);
    return {
      region: this.region,
      drained: this.drain.drained,
      outbox: p ? { depth: this.meta.outboxDepth(), published: p.published, lastError: p.lastError } : null,
      stream: stream ?? null,
      peers: peers ?? [],
      ...(all && { regions: regions ?? [] }),
    };
  }
}
