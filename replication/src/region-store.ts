import type { Readable } from 'node:stream';
import type { Digest, HlcTimestamp, HybridClock, Registry } from 'georeg/nodes';

/** A tag as this region holds it: its target (absent when deleted) and the clock of its last change. */
export interface TagState {
  digest?: Digest;
  clock?: HlcTimestamp;
}

/**
 * What replication needs of the region it copies into: the node's storage,
 * written stage → verify → commit, and never as events of this region (no
 * echo). In the node's process it is the registry itself; a separate
 * `georeg replicate` process reaches the node's over gRPC (RemoteRegionStore).
 */
export interface RegionStore {
  /** Fold a peer's clock reading into this region's clock. */
  observe(at: HlcTimestamp): Promise<void>;
  hasManifest(repo: string, digest: Digest): Promise<boolean>;
  /** Store a manifest whose blobs and children are here already. */
  putManifest(repo: string, digest: Digest, body: Buffer, mediaType: string): Promise<void>;
  /** Delete a manifest and the tags pointing at it. */
  deleteManifest(repo: string, digest: Digest): Promise<void>;
  tag(repo: string, tag: string): Promise<TagState>;
  /** Point a tag at a manifest that is here, stamped with the change's clock. */
  putTag(repo: string, tag: string, digest: Digest, clock: HlcTimestamp | undefined): Promise<void>;
  deleteTag(repo: string, tag: string, clock: HlcTimestamp | undefined): Promise<boolean>;
  /** Whether `repo` links the blob. */
  hasBlob(repo: string, digest: Digest): Promise<boolean>;
  /**
   * Copy a blob into `repo`: when another repository here holds it, only link
   * it; else `fetch(offset)` streams its bytes from `offset` on (an interrupted
   * copy resumes), verified before it becomes visible. Returns whether bytes
   * were fetched.
   */
  ingestBlob(repo: string, digest: Digest, fetch: (offset: number) => Readable | Promise<Readable>): Promise<boolean>;
  /** Apply a trust policy document when newer than the one held; returns whether it was. */
  applyPolicy(document: string, at: HlcTimestamp): Promise<boolean>;
  /** Apply a user or token record when newer than the one held; returns whether it was. */
  applyIdentity(key: string, record: string, at: HlcTimestamp): Promise<boolean>;
}

/** The RegionStore of a registry in this process. */
export class LocalRegionStore implements RegionStore {
  constructor(
    private readonly registry: Registry,
    private readonly clock: HybridClock,
  ) {}

  async observe(at: HlcTimestamp): Promise<void> {
    this.clock.observe(at);
  }

  async hasManifest(repo: string, digest: Digest): Promise<boolean> {
    return (await this.registry.meta.getManifest(repo, digest)) !== undefined;
  }

  async putManifest(repo: string, digest: Digest, body: Buffer, mediaType: string): Promise<void> {
    await this.registry.manifests.put(repo, { digest, tag: undefined }, body, mediaType, {});
  }

  async deleteManifest(repo: string, digest: Digest): Promise<void> {
    await this.registry.manifests.deleteManifest(repo, digest, true);
  }

  async tag(repo: string, tag: string): Promise<TagState> {
    const [digest, clock] = await Promise.all([this.registry.meta.getTag(repo, tag), this.registry.meta.getTagClock(repo, tag)]);
    return { digest, clock };
  }

  async putTag(repo: string, tag: string, digest: Digest, clock: HlcTimestamp | undefined): Promise<void> {
    await this.registry.meta.putTag(repo, tag, digest, { tagClock: clock });
  }

  deleteTag(repo: string, tag: string, clock: HlcTimestamp | undefined): Promise<boolean> {
    return this.registry.meta.deleteTag(repo, tag, { tagClock: clock });
  }

  async hasBlob(repo: string, digest: Digest): Promise<boolean> {
    return (await this.registry.meta.getBlobLink(repo, digest)) !== undefined;
  }

  ingestBlob(repo: string, digest: Digest, fetch: (offset: number) => Readable | Promise<Readable>): Promise<boolean> {
    return this.registry.uploads.ingest(repo, digest, fetch);
  }

  applyPolicy(document: string, at: HlcTimestamp): Promise<boolean> {
    return this.registry.policies.applyReplicated(document, at);
  }

  applyIdentity(key: string, record: string, at: HlcTimestamp): Promise<boolean> {
    return this.registry.identities.applyReplicated(key, record, at);
  }
}
