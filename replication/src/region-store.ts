import type { Readable } from 'node:stream';
import type { HlcTimestamp, HybridClock, Registry, TagState } from 'georeg/nodes';
import type { Digest, ParsedManifest } from 'georeg/oci';
import type { TreeLeaves, TreeNodes } from 'georeg/proto';
import { treeLeaves, treeNodes } from './tree-answers.js';

/**
 * How far each peer's events of each repository are applied in a region whose nodes share one
 * metadata store (repository-order.ts), by their places at the origin (Georeg-Repository-Seq).
 */
export interface Positions {
  /** The place of the last applied (0 before the first); null where the region keeps none. */
  get(peer: string, repo: string): Promise<number | null>;
  /** Record `seq` as applied, unless a later one already is. */
  advance(peer: string, repo: string, seq: number): Promise<void>;
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
  /**
   * Store a manifest whose blobs and children are here already; `parsed` is its body as the copier
   * parsed it, so that it is parsed once (over gRPC only the body crosses, and the node parses it).
   */
  putManifest(repo: string, digest: Digest, body: Buffer, mediaType: string, parsed?: ParsedManifest): Promise<void>;
  /** Delete a manifest and the tags pointing at it. */
  deleteManifest(repo: string, digest: Digest): Promise<void>;
  tag(repo: string, tag: string): Promise<TagState>;
  /**
   * Point a tag at a manifest that is here, stamped with the change's clock, unless the tag holds
   * a newer change (compared in the same step as the write); returns whether it did.
   */
  putTag(repo: string, tag: string, digest: Digest, clock: HlcTimestamp | undefined): Promise<boolean>;
  /** Delete a tag, stamped with the change's clock, unless it holds a newer change; returns whether it went. */
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
  /** Apply a lock (of a repository, tag or manifest) when newer than the one held; returns whether it was. */
  applyLock(key: string, record: string, at: HlcTimestamp): Promise<boolean>;
  /** Nodes of this region's digest tree (tree-answers.ts), with its record stores' hashes; undefined when the node has no tree (a release before it). */
  treeNodes(paths: string[]): Promise<TreeNodes | undefined>;
  /** Repositories of leaves of this region's digest tree, with their hashes. */
  treeLeaves(paths: string[]): Promise<TreeLeaves>;
  /**
   * Where the region's nodes share one metadata store: how far each peer's events of each
   * repository are applied here. Undefined (or answering null) where one process applies them all:
   * its lanes keep each repository's order.
   */
  readonly positions?: Positions;
}

/** The RegionStore of a registry in this process. */
export class LocalRegionStore implements RegionStore {
  constructor(
    private readonly registry: Registry,
    private readonly clock: HybridClock,
  ) {}

  get positions(): Positions | undefined {
    return this.registry.replication.positions;
  }

  async observe(at: HlcTimestamp): Promise<void> {
    this.clock.observe(at);
  }

  hasManifest(repo: string, digest: Digest): Promise<boolean> {
    return this.registry.replication.hasManifest(repo, digest);
  }

  putManifest(repo: string, digest: Digest, body: Buffer, mediaType: string, parsed?: ParsedManifest): Promise<void> {
    return this.registry.replication.applyReplicatedManifest(repo, digest, body, mediaType, parsed);
  }

  async deleteManifest(repo: string, digest: Digest): Promise<void> {
    await this.registry.replication.applyReplicatedDelete(repo, { digest, tag: undefined });
  }

  tag(repo: string, tag: string): Promise<TagState> {
    return this.registry.replication.tag(repo, tag);
  }

  putTag(repo: string, tag: string, digest: Digest, clock: HlcTimestamp | undefined): Promise<boolean> {
    return this.registry.replication.applyReplicatedTag(repo, tag, digest, clock);
  }

  deleteTag(repo: string, tag: string, clock: HlcTimestamp | undefined): Promise<boolean> {
    return this.registry.replication.applyReplicatedDelete(repo, { tag, digest: undefined }, clock);
  }

  hasBlob(repo: string, digest: Digest): Promise<boolean> {
    return this.registry.replication.hasBlob(repo, digest);
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

  applyLock(key: string, record: string, at: HlcTimestamp): Promise<boolean> {
    return this.registry.locks.applyReplicated(key, record, at);
  }

  treeNodes(paths: string[]): Promise<TreeNodes> {
    return treeNodes(this.registry.replication.digestTree(), paths);
  }

  treeLeaves(paths: string[]): Promise<TreeLeaves> {
    return treeLeaves(this.registry.replication.digestTree(), paths);
  }
}
