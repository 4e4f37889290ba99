import { isOriginUrl, toState, type RegionLocation, type RegionView } from 'georeg/nodes';
import type { PeerClient } from './peer-client.js';
import { nearestFirst, type HealthOf } from './peer-health.js';

/** Questions a region asks its peers for its clients: where an artifact is, who holds a blob. */
export class PeerQueries {
  constructor(
    private readonly clients: PeerClient[],
    private readonly health: HealthOf,
  ) {}

  /** Every peer's own status, asked at once; a peer that does not answer within 3 s says why. */
  views(): Promise<RegionView[]> {
    return Promise.all(
      this.clients.map(async (peer): Promise<RegionView> => {
        try {
          return { region: peer.region, peers: (await peer.status(3000)).peers };
        } catch (err) {
          return { region: peer.region, error: (err as Error).message };
        }
      }),
    );
  }

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

  /**
   * The public URL of the nearest peer region (lowest smoothed probe round trip) that is up, not
   * drained, and holds `digest` in `repository`, if any: every such peer is asked at once (only
   * `region`, when named).
   */
  async findBlob(repository: string, digest: string, region?: string): Promise<string | undefined> {
    const routable = this.clients.filter((peer) => {
      const h = this.health(peer.region);
      return h.up && !h.drained && (region === undefined || peer.region === region);
    });
    const urls = await Promise.all(
      nearestFirst(routable, this.health).map(async (peer) => {
        const stat = await peer.statBlob(repository, digest).catch(() => undefined);
        // The URL becomes a client's Location: only a plain http(s) origin is taken from a peer.
        return stat?.present && isOriginUrl(stat.url) ? stat.url : undefined;
      }),
    );
    return urls.find((u) => u !== undefined);
  }
}
