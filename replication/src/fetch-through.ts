import { compareHlc, type FetchOutcome, type HlcTimestamp } from 'georeg/nodes';
import type { Descriptor, Digest, ParsedManifest, Reference } from 'georeg/oci';
import type { Location } from 'georeg/proto';
import { CorruptAtSource, type Copier } from './copier.js';
import type { PeerClient } from './peer-client.js';
import { nearestFirst, type HealthOf } from './peer-health.js';

/** How long a client's request waits for the peers to say whether they hold what it asked for. */
const ASK_MS = 2000;

interface Holder {
  peer: PeerClient;
  digest: Digest;
  at?: HlcTimestamp;
}

/**
 * Content a client asks this region for and it does not hold yet, fetched from a peer that holds
 * it completely instead of answering 404: the peers are asked at once (one round of Locate calls,
 * bounded by ASK_MS), and the copy goes through the copier as replication's would (blobs, child
 * manifests, the manifest, its referrers, then the tag under the last-writer-wins rule with the
 * clock the peer holds it at). Of several holders of a tag, the newest change wins, then the
 * nearest region. Requests for the same content share one fetch.
 */
export class FetchThrough {
  readonly #running = new Map<string, Promise<FetchOutcome>>();

  constructor(
    private readonly clients: PeerClient[],
    /** A peer that failed its last health probe is not waited for; a drained one is still a source. */
    private readonly health: HealthOf,
    private readonly copier: Copier,
    private readonly askMs = ASK_MS,
  ) {}

  fetch(repository: string, ref: Reference): Promise<FetchOutcome> {
    const key = `${repository}\0${ref.digest ?? ref.tag}`;
    const running = this.#running.get(key);
    if (running) return running;
    const fetching = this.#fetch(repository, ref).finally(() => this.#running.delete(key));
    this.#running.set(key, fetching);
    return fetching;
  }

  /**
   * A push split across regions (its uploads went to a peer, its manifest here): the blobs and
   * child manifests the manifest needs and this region lacks are copied from the nearest peer that
   * holds each in the same repository (StatBlob and Locate check the link there, so no other
   * repository's content is reachable). `fetched` only when nothing is missing now.
   */
  async references(repository: string, manifest: Pick<ParsedManifest, 'blobs' | 'children'>): Promise<FetchOutcome> {
    const unreachable = this.clients.filter((p) => !this.health(p.region).up).map((p) => p.region);
    const near = nearestFirst(
      this.clients.filter((p) => this.health(p.region).up),
      this.health,
    );
    const holderOf = async (d: Descriptor, isManifest: boolean): Promise<PeerClient | undefined> => {
      const holds = await Promise.all(
        near.map((peer) =>
          (isManifest
            ? peer.locate(repository, d.digest, this.askMs).then((l) => l.complete)
            : peer.statBlob(repository, d.digest).then((b) => b.present)
          ).catch(() => false),
        ),
      );
      return near[holds.indexOf(true)];
    };
    try {
      const { missing, from } = await this.copier.ensureReferences(repository, manifest, holderOf);
      return { fetched: from.size > 0 && missing.length === 0, from: [...from].join(', '), unreachable };
    } catch (err) {
      return { fetched: false, unreachable, failed: { reason: (err as Error).message, retry: !(err instanceof CorruptAtSource) } };
    }
  }

  async #fetch(repository: string, ref: Reference): Promise<FetchOutcome> {
    const unreachable = this.clients.filter((p) => !this.health(p.region).up).map((p) => p.region);
    const answers = await Promise.all(
      nearestFirst(
        this.clients.filter((p) => this.health(p.region).up),
        this.health,
      ).map((peer) =>
        peer.locate(repository, ref.digest ?? ref.tag, this.askMs).then(
          (l) => holder(peer, l),
          () => (unreachable.push(peer.region), undefined),
        ),
      ),
    );
    const best = answers.filter((h): h is Holder => h !== undefined).sort(newestFirst)[0];
    if (!best) return { fetched: false, unreachable };
    const from = best.peer.region;
    try {
      if (ref.tag === undefined) await this.copier.ensureManifest(repository, best.digest, best.peer, { withReferrers: true });
      else await this.copier.applyTag(repository, ref.tag, best.digest, best.at, best.peer);
      return { fetched: true, from, unreachable };
    } catch (err) {
      return { fetched: false, from, unreachable, failed: { reason: (err as Error).message, retry: !(err instanceof CorruptAtSource) } };
    }
  }
}

/**
 * A peer that holds the reference completely, with the clock of the tag's change (none from a
 * previous release: the tag then applies unordered, and the change's own event or anti-entropy
 * orders it later).
 */
function holder(peer: PeerClient, l: Location): Holder | undefined {
  return l.complete && l.digest ? { peer, digest: l.digest as Digest, at: l.timestamp } : undefined;
}

/** The newest change first; of the same change, the order asked in (nearest first: the sort is stable). */
function newestFirst(a: Holder, b: Holder): number {
  return a.at && b.at ? compareHlc(b.at, a.at) : 0;
}
