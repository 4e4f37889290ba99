import type { Descriptor, Digest } from 'georeg/oci';
import type { HlcTimestamp } from '../hlc.js';
import type { DigestTreeReader } from './digest-tree.js';
import type { DigestLocks } from './digest-locks.js';
import type { Lease, LeaseName } from './lease.js';

/** What the registry knows of a manifest linked into a repository. */
export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  /** ms since epoch, when first linked into this repository. */
  created: number;
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Digests this manifest references: config, layers, or index children. */
  references: Digest[];
  /** ms since epoch of the last time it was put here (a record from before it had one: `created`); set by the store. */
  updated?: number;
  /** An image's config and layers in bytes; an index's children's (recorded at push and replication). */
  imageSize?: number;
  /** From an image's config blob (absent for an index, or a config that does not say). */
  architecture?: string;
  os?: string;
  /** An index's children with their platforms, as the index lists them. */
  platforms?: { digest: Digest; architecture?: string; os?: string }[];
}

/** A tag with its times (ms since epoch): when it was created, and when it last moved. */
export interface TagRecord {
  name: string;
  digest: Digest;
  created: number;
  updated: number;
}

/**
 * A page of a listing in time order (last update, then name or digest): `after` names the last item of
 * the previous page. A name that is no longer there cannot place the page: PAGINATION_INVALID.
 */
export interface TimePage {
  order: 'asc' | 'desc';
  after?: string;
  n: number;
}

export interface UploadSession {
  id: string;
  repository: string;
  /** ms since epoch. */
  created: number;
  /** ms since epoch of the last chunk. */
  updated: number;
}

export interface BlobLink {
  size: number;
  created: number;
}

/** Options of the mutations that can emit events. */
export interface WriteOptions {
  /**
   * Encoded events appended to the outbox in the same atomic write as the
   * change, when the call changes anything (a no-op writes no event).
   */
  events?: Uint8Array[];
  /**
   * For changes that write or delete a tag: the hybrid-logical-clock time of
   * that change, kept per tag (also after a delete) so that replication
   * applies only changes newer than the one the tag last saw. A delete of a tag
   * that is absent records its clock only when conditional (`wins`: a peer's
   * delete, which an older put arriving later must lose to); a local delete of
   * an absent tag changes nothing, as its 404 says.
   */
  tagClock?: HlcTimestamp;
  /**
   * Makes a tag put or delete conditional (a change replicated from another region): asked, with
   * the clock the tag holds, whether the change wins, in the same per-repository serialised step
   * as the write. When it does not, nothing is written and the call throws StaleTagChange.
   */
  wins?: (held: HlcTimestamp | undefined) => boolean;
}

/** A conditional tag change (WriteOptions.wins) lost to the change the tag holds: nothing was written. */
export class StaleTagChange extends Error {
  override name = 'StaleTagChange';
  constructor(repo: string, tag: string) {
    super(`${repo}:${tag} holds a newer change`);
  }
}

/** An event waiting in the outbox to be published. */
export interface OutboxEntry {
  /** Position in the outbox: increasing in write order. */
  seq: number;
  event: Uint8Array;
  /**
   * For an event of a repository: its place among that repository's events written here, 1 for
   * the first and each next one more, numbered in the write that appends it. Replicas apply a
   * repository's events in this order (replication's repository-order.ts). Absent for the other
   * events and for those an earlier release wrote.
   */
  repositorySeq?: number;
}

/**
 * The named record stores, one key space per concept: the trust policy document
 * (and the seed file last applied), the tag bindings seen per tag, users and
 * tokens, this region's routing state (drained or not; never replicated), the
 * locks of repositories, tags and manifests (ACR's changeable attributes), and
 * per peer region and repository the last of its events applied here (never
 * replicated; written where a region's nodes share the store).
 */
export const RECORD_STORES = ['policies', 'bindings', 'identities', 'routing', 'locks', 'positions'] as const;
export type RecordStoreName = (typeof RECORD_STORES)[number];

/** Options of a record put. */
export interface RecordPutOptions<T> extends Pick<WriteOptions, 'events'> {
  /**
   * Makes the put conditional: asked, with the record held (undefined: none), whether this one
   * replaces it, in the same step as the write, serialised per key with every other put of that key
   * in any process sharing the store. When it does not, nothing is written and no event appended.
   */
  wins?: (held: T | undefined) => boolean;
}

/**
 * The records of one concept: a JSON value per key (keys never hold '!'). Those
 * replicated carry the clock of their last change, which LastWriterWins compares.
 */
export interface RecordStore<T> {
  get(key: string): Promise<T | undefined>;
  /** Store a record, with `opts.events` in the same atomic write; false when `opts.wins` refused it (nothing written). */
  put(key: string, record: T, opts?: RecordPutOptions<T>): Promise<boolean>;
  /** Records whose key starts with `prefix`, sorted by key. */
  list(prefix?: string): AsyncIterable<{ key: string; record: T }>;
}

export interface Page {
  /** Return only entries lexically after this one. */
  last?: string;
  /** At most this many entries (undefined: all). */
  n?: number;
}

/**
 * Registry metadata: repositories, tags, manifests, referrers, blob links,
 * upload sessions and the named record stores. Every implementation passes
 * test/support/meta-suite.ts and record-store-suite.ts.
 *
 * A repository exists while it has at least one tag, manifest or blob link.
 * Each mutating call is atomic: either all of its effects are visible or none.
 */
export interface MetaStore {
  /**
   * Whether other processes write this store too (the nodes of a region sharing one PostgreSQL
   * database): what a node holds in memory of it is then read again when it changes (shared-state.ts).
   */
  readonly shared: boolean;
  /**
   * Set when `shared`: the digest locks by which the writers of every node sharing the store keep a
   * GC on any of them from removing what they link (digest-locks.ts).
   */
  readonly digestLocks?: DigestLocks;

  // tags
  getTag(repo: string, tag: string): Promise<Digest | undefined>;
  /** Tags of a repository, sorted lexically. */
  listTags(repo: string, page?: Page): Promise<string[]>;
  /** Tags that currently point at `digest`. */
  tagsOf(repo: string, digest: Digest): Promise<string[]>;
  /** Points `tag` at a manifest that must already be linked; returns the previous digest. */
  putTag(repo: string, tag: string, digest: Digest, opts?: WriteOptions): Promise<Digest | undefined>;
  /** Returns false when the tag did not exist (its clock is still recorded when given). */
  deleteTag(repo: string, tag: string, opts?: WriteOptions): Promise<boolean>;
  /** The clock of the last change of a tag that carried one. */
  getTagClock(repo: string, tag: string): Promise<HlcTimestamp | undefined>;
  /** Every tag clock of a repository (deleted tags included), sorted by tag. */
  listTagClocks(repo: string): AsyncIterable<{ tag: string; clock: HlcTimestamp }>;
  /** A tag with its times. */
  getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined>;
  /** Tags in the order of their last change (ties by name), without reading the others: fast whatever the repository's size. */
  listTagsByTime(repo: string, page: TimePage): Promise<TagRecord[]>;

  // manifests
  getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined>;
  /**
   * Link a manifest into a repository, index it as a referrer of its subject,
   * and optionally point a tag at it, all in one atomic write. Re-putting an
   * existing manifest keeps its original `created`.
   */
  putManifest(repo: string, record: ManifestRecord, tag?: string, opts?: WriteOptions): Promise<void>;
  /** Unlink a manifest, its tags and its referrer entry; false when absent. */
  deleteManifest(repo: string, digest: Digest, opts?: WriteOptions): Promise<boolean>;
  /** Manifests linked into a repository, sorted by digest (those after `after`). */
  listManifests(repo: string, after?: Digest): AsyncIterable<ManifestRecord>;
  /** Manifests in the order of their last put (ties by digest), without reading the others. */
  listManifestsByTime(repo: string, page: TimePage): Promise<ManifestRecord[]>;

  // referrers
  /** Descriptors of manifests in `repo` whose subject is `subject`, sorted by digest. */
  listReferrers(repo: string, subject: Digest): Promise<Descriptor[]>;

  // blob links
  getBlobLink(repo: string, digest: Digest): Promise<BlobLink | undefined>;
  linkBlob(repo: string, digest: Digest, link: BlobLink): Promise<void>;
  /** Returns false when there was no link. */
  unlinkBlob(repo: string, digest: Digest): Promise<boolean>;
  /** Blob links of a repository, sorted by digest. */
  listBlobLinks(repo: string): AsyncIterable<{ digest: Digest; link: BlobLink }>;

  // repositories
  /** Repositories that exist, sorted lexically. */
  listRepositories(page?: Page): Promise<string[]>;
  hasRepository(repo: string): Promise<boolean>;

  // upload sessions
  getUpload(id: string): Promise<UploadSession | undefined>;
  putUpload(session: UploadSession): Promise<void>;
  deleteUpload(id: string): Promise<boolean>;
  listUploads(): AsyncIterable<UploadSession>;

  // named record stores: registry-wide records, one store per concept
  /** The store of `name`; `T` is what its owner keeps there (stored as JSON). */
  records<T>(name: RecordStoreName): RecordStore<T>;

  // leases: what one process at a time does among the nodes sharing this store (lease.ts)
  /** The lease of `name` when no process holds it (undefined when one does). */
  tryLease(name: LeaseName): Promise<Lease | undefined>;

  // digest tree: what anti-entropy compares (digest-tree.ts), kept with every change of what it summarises
  digestTree(): DigestTreeReader;

  // outbox: events written with the changes above, until a publisher has sent them
  /** The oldest `limit` entries, in write order. */
  readOutbox(limit: number): Promise<OutboxEntry[]>;
  /** Remove published entries. */
  deleteOutbox(seqs: number[]): Promise<void>;
  /** Entries in the outbox, whichever process wrote or deleted them (a shared store's: as counted at most a second ago, plus this process's changes since). */
  outboxDepth(): number;

  close(): Promise<void>;
}
