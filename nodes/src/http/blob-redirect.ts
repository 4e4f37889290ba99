import type { AuthService } from '../auth/service.js';
import { apiPaths, type Digest } from 'georeg/oci';
import type { NodeStatus } from '../status.js';
import { Lru } from '../lru.js';
import type { Placement } from './placement.js';
import type { RoutingMetrics } from '../routing-metrics.js';

/**
 * Where blob GETs from a client address go, and why (GET /georeg/v1/routing?client=, `georeg
 * where --client`): `unplaced` (no placement block holds it) and `local` (placed here) are served
 * here; `placement`: sent to `placedIn` for every blob that region holds; `down` and `drained`:
 * `placedIn` is out of routing, so they are served here; `off`: replication.redirect is off, every
 * client is served where it asks.
 */
export interface ClientRoute {
  address: string;
  /** The node asked. */
  region: string;
  placedIn?: string;
  /** The placement block that placed it, as written in network.placement. */
  rule?: string;
  sentTo: string;
  reason: 'unplaced' | 'local' | 'placement' | 'down' | 'drained' | 'off';
}

/** How long a blob no peer holds is not asked about again. */
const MISS_MS = 2000;

/**
 * Where a GET of a blob this region does not hold yet goes instead of a 404:
 * a peer region that holds it (one that answers its health probe), at an URL
 * that is its own credential when auth is on, for that repository and digest
 * only and for a short time, since clients do not send their token to another
 * host. Without a replicator, or with no peer holding it, there is nowhere.
 */
export class BlobRedirects {
  /** Blobs no peer held when last asked, until when (ms): a burst of GETs for one missing blob asks the peers once. */
  readonly #misses = new Lru<string, number>(10_000);

  constructor(
    private readonly status: NodeStatus,
    private readonly auth?: AuthService,
    private readonly placement?: Placement,
    private readonly metrics?: RoutingMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Where a GET from a client at `address` goes when placement puts it in another region and that
   * region holds the blob; undefined (served here) otherwise, decided without a call for a client
   * placed here or nowhere.
   */
  async placed(address: string | undefined, repo: string, digest: Digest): Promise<string | undefined> {
    const home = this.placement?.regionOf(address);
    const to = home === undefined || home === this.status.region ? undefined : await this.#find(repo, digest, home);
    if (to) this.metrics?.redirected('placement');
    return to;
  }

  /** Where blob GETs from a client at `address` go, and why (see ClientRoute). */
  async route(address: string): Promise<ClientRoute> {
    const here = this.status.region;
    const rule = this.placement?.ruleOf(address);
    const asked = { address, region: here, ...(rule && { placedIn: rule.region, rule: rule.cidr }) };
    if (!rule || rule.region === here) return { ...asked, sentTo: here, reason: rule ? 'local' : 'unplaced' };
    const peer = (await this.status.replication?.peers())?.find((p) => p.region === rule.region);
    if (!peer?.up) return { ...asked, sentTo: here, reason: 'down' };
    if (peer.drained) return { ...asked, sentTo: here, reason: 'drained' };
    return { ...asked, sentTo: rule.region, reason: 'placement' };
  }

  /** The nearest region holding a blob this region does not hold yet, as a URL for the client; undefined when none does. */
  async location(repo: string, digest: Digest): Promise<string | undefined> {
    const to = await this.#find(repo, digest);
    if (to) this.metrics?.redirected('nearest');
    return to;
  }

  /** A region holding the blob (the nearest, or only `region`), as a URL for the client; undefined when none does. */
  async #find(repo: string, digest: Digest, region?: string): Promise<string | undefined> {
    const key = `${region ?? ''}@${repo}@${digest}`;
    if ((this.#misses.get(key) ?? 0) > this.now()) return undefined;
    const base = await this.status.replication?.findBlob(repo, digest, region);
    if (!base) {
      this.#misses.set(key, this.now() + MISS_MS);
      return undefined;
    }
    const url = `${base.replace(/\/+$/, '')}${apiPaths.blobData(repo, digest)}`;
    return this.auth ? `${url}?t=${this.auth.blobUrlToken(repo, digest)}` : url;
  }
}
