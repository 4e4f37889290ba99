import type { MetaStore } from './meta/store.js';
import type { OutboxPublisher } from './events/publisher.js';

/** Replication from one peer region, as this region sees it. */
export interface PeerReplicationStatus {
  region: string;
  /** Age of the oldest event from this peer not yet applied here (0 when caught up). */
  lagSeconds: number;
  /** Events from this peer not yet applied here. */
  pendingEvents: number;
  /** Blob bytes being copied from this peer right now. */
  bytesInFlight: number;
  applied: number;
  failures: number;
  lastError?: string;
}

/** Where the node's replication status comes from (the replicator, when one runs in this process). */
export interface ReplicationStatusSource {
  peers(): Promise<PeerReplicationStatus[]>;
}

export interface NodeStatusSnapshot {
  region: string;
  outbox: { depth: number; published: number; lastError?: string } | null;
  peers: PeerReplicationStatus[];
}

/** What GET /georeg/v1/replication answers: this region's outbox and its replication from each peer. */
export class NodeStatus {
  replication?: ReplicationStatusSource;

  constructor(
    readonly region: string,
    private readonly meta: MetaStore,
    private readonly publisher?: OutboxPublisher,
  ) {}

  async snapshot(): Promise<NodeStatusSnapshot> {
    const p = this.publisher;
    return {
      region: this.region,
      outbox: p ? { depth: this.meta.outboxDepth(), published: p.published, lastError: p.lastError } : null,
      peers: (await this.replication?.peers()) ?? [],
    };
  }
}
