import { isOriginUrl, toState, type RegionLocation } from 'georeg/nodes';
import type { PeerClient } from './peer-client.js';

/** Questions a region asks its peers for its clients: where an artifact is, who holds a blob. */
export class PeerQueries {
  constructor(
    private readonly clients: PeerClient[],
    /** Whether a peer answered its last health probe. */
    private readonly isUp: (region: string) => boolean,
  ) {}

  /** Every peer's answer on `reference` of `repository`; a peer that does not answer is unreachable. */
  locate(repository: string, reference: string): Promise<RegionLocation[]> {
    return Promise.all(
      this.clients.map(async (peer): Promise<RegionLocation> => {
        try {
          const l = await peer.locate(repository, reference);
          return { region: peer.region, ...toState(l.digest || undefined, l.complete, l.missing) };
        } catch (err) {
          return { region: peer.region, state: 'unreachable', error: (err as Error).message };
        }
      }),
    );
  }

  /** The public URL of a peer region that is up and holds `digest` in `repository` (the first to say so), if any. */
  findBlob(repository: string, digest: string): Promise<string | undefined> {
    const asks = this.clients
      .filter((peer) => this.isUp(peer.region))
      .map(async (peer) => {
        const stat = await peer.statBlob(repository, digest);
        // The URL becomes a client's Location: only a plain http(s) origin is taken from a peer.
        if (!stat.present || !isOriginUrl(stat.url)) throw new Error(`not at ${peer.region}`);
        return stat.url;
      });
    return Promise.any(asks).catch(() => undefined);
  }
}
