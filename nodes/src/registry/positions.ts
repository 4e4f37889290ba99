import type { RecordStore } from '../meta/store.js';

/**
 * Per peer region and repository, the OutboxEntry.repositorySeq of the last of its events applied
 * in this region: what lets the nodes of a region that share a metadata store apply a
 * repository's events in order although each takes its share of them (replication's
 * repository-order.ts). Kept in the `positions` record store, never replicated.
 */
export class AppliedPositions {
  constructor(private readonly records: RecordStore<number>) {}

  /** The last position applied; 0 before the first. */
  async get(peer: string, repo: string): Promise<number> {
    return (await this.records.get(positionKey(peer, repo))) ?? 0;
  }

  /** Record `seq` as applied, unless a later one already is (compared in the store's write, whichever node writes). */
  async advance(peer: string, repo: string, seq: number): Promise<void> {
    await this.records.put(positionKey(peer, repo), seq, { wins: (held) => (held ?? 0) < seq });
  }
}

/** Region names hold no '/', so the key is unambiguous (and record keys never hold '!', nor do these). */
const positionKey = (peer: string, repo: string): string => `${peer}/${repo}`;
