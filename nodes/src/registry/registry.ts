import { BlobService } from './blobs.js';
import { UploadService } from './uploads.js';
import { ManifestService, type ManifestOptions } from './manifests.js';
import { ListingService } from './listing.js';
import { Replication } from './replication.js';
import { GarbageCollector } from './gc.js';
import { ContentGuard } from './content-guard.js';
import type { EventRecorder } from '../events/recorder.js';
import { HybridClock } from '../hlc.js';
import { silentLogger, type Logger } from '../log.js';
import { TrustPolicies } from '../trust/policies.js';
import { TrustGate } from '../trust/gate.js';
import { EvidenceReader } from '../trust/evidence.js';
import { TagBindings } from '../trust/bindings.js';
import { Identities } from '../auth/identities.js';
import { Locks } from './locks.js';
import { Properties } from './properties.js';
import type { RegistryStores } from './stores.js';

export type { RegistryStores } from './stores.js';

export interface RegistryDeps extends RegistryStores {
  manifests: ManifestOptions;
  now?: () => number;
  /** Set when this node records events for replication. */
  events?: EventRecorder;
  /** The region's clock (trust policy versions); a local one by default. */
  clock?: HybridClock;
  log?: Logger;
}

/**
 * The registry's domain services over one blob store, its upload staging and one metadata store, which it does not
 * expose: every reader and writer goes through a service. No HTTP here.
 */
export class Registry {
  readonly #stores: RegistryStores;
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly listing: ListingService;
  readonly guard: ContentGuard;
  /** The trust policy document, and the gate that applies it to pulls. */
  readonly policies: TrustPolicies;
  readonly trust: TrustGate;
  /** Users and tokens (used when authentication is on; replicated either way). */
  readonly identities: Identities;
  /** Locks of repositories, tags and manifests (ACR's changeable attributes). */
  readonly locks: Locks;
  /** What ACR's metadata API shows of repositories, tags and manifests. */
  readonly properties: Properties;
  /** Where changes from other regions come in, and what replication reads here. */
  readonly replication: Replication;
  /** Garbage collection beside the writers (collectGarbage). */
  readonly gc: GarbageCollector;

  constructor(deps: RegistryDeps) {
    const now = deps.now ?? Date.now;
    this.#stores = { blobs: deps.blobs, staging: deps.staging, meta: deps.meta };
    this.guard = new ContentGuard(deps.meta.digestLocks);
    this.blobs = new BlobService(deps.blobs, deps.meta, this.guard, now);
    this.uploads = new UploadService(deps.staging, deps.meta, this.blobs, this.guard, now);
    const clock = deps.clock ?? new HybridClock('local');
    this.policies = new TrustPolicies(deps.meta, clock, deps.events, deps.log);
    this.identities = new Identities(deps.meta, clock, deps.events, now);
    this.locks = new Locks(deps.meta, clock, deps.events, now);
    const evidence = new EvidenceReader(deps.meta, deps.blobs);
    this.trust = new TrustGate(
      deps.meta,
      this.policies,
      evidence,
      new TagBindings(deps.meta, evidence, now),
      deps.log ?? silentLogger,
      now,
    );
    this.manifests = new ManifestService(deps.blobs, deps.meta, this.guard, deps.manifests, now, deps.events, this.trust, this.locks);
    this.listing = new ListingService(deps.meta, this.locks);
    this.properties = new Properties(deps.meta, deps.blobs, this.locks, this.manifests);
    this.replication = new Replication(this.#stores, this.manifests);
    this.gc = new GarbageCollector(this.#stores, this.guard, this.uploads, this.locks);
  }

  async close(): Promise<void> {
    await this.#stores.meta.close();
    await this.#stores.staging.close();
  }
}
