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

  /**
   * The public URL of the nearest peer region (lowest smoothed probe round trip) that is up and
   * holds `digest` in `repository`, if any: every such peer is asked at once (only `region`, when named).
   */
  async findBlob(repository: string, digest: string, region?: string): Promise<string | undefined> {
    const holders = await Promise.all(
      this.clients
        .filter((peer) => this.isUp(peer.region) && (region === undefined || peer.region === region))
        .map(async (peer) => {
          const stat = await peer.statBlob(repository, digest).catch(() => undefined);
          // The URL becomes a client's Location: only a plain http(s) origin is taken from a peer.
          return stat?.present && isOriginUrl(stat.url) ? { url: stat.url, rtt: peer.rttMs ?? Number.MAX_VALUE } : undefined;
        }),
    );
    return holders
      .filter((h) => h !== undefined)
      .sort((a, b) => a.rtt - b.rtt)
      .at(0)?.url;
  }
}
