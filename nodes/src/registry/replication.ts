import { type Digest, type Reference, parseManifest, type ParsedManifest } from 'georeg/oci';
import { StaleTagChange, type WriteOptions } from '../meta/store.js';
import { compareHlc, type HlcTimestamp } from '../hlc.js';
import { changeOrder } from '../events/change-order.js';
import type { ManifestService } from './manifests.js';
import { locate, type LocalLocation } from './locate.js';
import type { RegistryStores } from './stores.js';
import type { DigestTreeReader } from '../meta/digest-tree.js';
import { AppliedPositions } from './positions.js';

/** A tag as this region holds it: its target (absent when deleted) and the clock of its last change. */
export interface TagState {
  digest?: Digest;
  clock?: HlcTimestamp;
}

/** A page of a repository as peers list it for anti-entropy. */
export interface RepositoryPage {
  tags: (TagState & { tag: string })[];
  /** On the first page only: every manifest, and the clock of every deleted tag. */
  manifests: Digest[];
  deleted: { tag: string; clock: HlcTimestamp }[];
  more: boolean;
}

/**
 * The registry's replication boundary: the changes of other regions applied here, recording no
 * event of this region (no echo), and what replication reads here. A tag change is compared
 * with the tag's clock in the same step as its write (MetaStore's conditional write), so of two
 * changes of one tag applied at once the newer lands, whichever finishes last.
 */
export class Replication {
  /**
   * Where this region's nodes share the metadata store: how far each peer's events of each
   * repository are applied. Undefined on a node of its own, whose replicator orders them itself.
   */
  readonly positions?: AppliedPositions;

  constructor(
    private readonly stores: RegistryStores,
    private readonly manifests: ManifestService,
  ) {
    if (stores.meta.shared) this.positions = new AppliedPositions(stores.meta.records<number>('positions'));
  }

  async hasManifest(repo: string, digest: Digest): Promise<boolean> {
    return (await this.stores.meta.getManifest(repo, digest)) !== undefined;
  }

  /** Whether `repo` links the blob. */
  async hasBlob(repo: string, digest: Digest): Promise<boolean> {
    return (await this.stores.meta.getBlobLink(repo, digest)) !== undefined;
  }

  /**
   * A tag's digest with the clock of the change that put it there. Both are written in one batch
   * but read apart, so the digest is read between two reads of the clock and taken when they agree
   * (every change has a new clock): a peer handed a digest with a newer change's clock would take
   * that change's own event for a replay and keep the wrong image.
   */
  async tag(repo: string, tag: string): Promise<TagState> {
    const { meta } = this.stores;
    for (let clock = await meta.getTagClock(repo, tag); ;) {
      const digest = await meta.getTag(repo, tag);
      const after = await meta.getTagClock(repo, tag);
      if (clock === after || (clock && after && compareHlc(clock, after) === 0)) return { digest, clock };
      clock = after;
    }
  }

  /** Store a manifest whose blobs and children are here already; `parsed` is its body as the copier parsed it. */
  async applyReplicatedManifest(
    repo: string,
    digest: Digest,
    body: Buffer,
    mediaType: string,
    parsed: ParsedManifest = parseManifest(body, mediaType),
  ): Promise<void> {
    await this.manifests.putReplicated(repo, digest, body, parsed);
  }

  /** Point a tag at a manifest that is here, stamped `at`; false when the tag holds a newer change. */
  async applyReplicatedTag(repo: string, tag: string, digest: Digest, at: HlcTimestamp | undefined): Promise<boolean> {
    try {
      await this.stores.meta.putTag(repo, tag, digest, lastWriterWins(at));
      return true;
    } catch (err) {
      return lost(err);
    }
  }

  /**
   * Delete a manifest (by digest, with the tags pointing at it) or a tag (a delete stamped `at`,
   * applied unless the tag holds a newer change). Returns whether it was here and went.
   */
  async applyReplicatedDelete(repo: string, ref: Reference, at?: HlcTimestamp): Promise<boolean> {
    if (ref.digest !== undefined) return this.manifests.deleteReplicated(repo, ref.digest);
    try {
      return await this.stores.meta.deleteTag(repo, ref.tag, lastWriterWins(at));
    } catch (err) {
      return lost(err);
    }
  }

  /** A page of the repository's tags after `page.last`, at most `page.n`; the first page also lists its manifests and deleted tags. */
  async repository(repo: string, page: { last?: string; n: number }): Promise<RepositoryPage> {
    const { meta } = this.stores;
    const names = await meta.listTags(repo, { last: page.last, n: page.n + 1 });
    const tags = await Promise.all(names.slice(0, page.n).map(async (tag) => ({ tag, ...(await this.tag(repo, tag)) })));
    const manifests: Digest[] = [];
    const deleted: RepositoryPage['deleted'] = [];
    if (page.last === undefined) {
      for await (const m of meta.listManifests(repo)) manifests.push(m.digest);
      for await (const { tag, clock } of meta.listTagClocks(repo)) {
        if ((await meta.getTag(repo, tag)) === undefined) deleted.push({ tag, clock });
      }
    }
    return { tags, manifests, deleted, more: names.length > page.n };
  }

  /** The summary of this region's content that anti-entropy compares with a peer's. */
  digestTree(): DigestTreeReader {
    return this.stores.meta.digestTree();
  }

  /** Whether this region holds a tag or digest completely (a peer's Locate, this node's "where"). */
  locate(repo: string, ref: Reference): Promise<LocalLocation> {
    return locate(this.stores, repo, ref);
  }
}

/**
 * The options of a tag change stamped `at` that lands only when it is newer than the change the
 * tag holds (changeOrder, with no bound on how far ahead: a tag change is never refused for that).
 */
function lastWriterWins(at: HlcTimestamp | undefined): WriteOptions {
  return { tagClock: at, wins: (held) => changeOrder(at, held) === 'newer' };
}

/** false for a tag change that lost to a newer one (StaleTagChange); anything else is rethrown. */
function lost(err: unknown): false {
  if (err instanceof StaleTagChange) return false;
  throw err;
}
