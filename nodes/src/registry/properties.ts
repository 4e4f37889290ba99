import { isOciError, oci, parseManifest, type Digest } from 'georeg/oci';
import type { ManifestRecord, MetaStore, TagRecord } from '../meta/store.js';
import type { BlobStore } from '../storage/driver.js';
import { imageFacts } from './image-facts.js';
import { pageByTime } from '../meta/time-index.js';
import { fillPage } from './listing.js';
import type { Attributes, Locks } from './locks.js';
import type { ManifestService } from './manifests.js';

/** ACR's repository properties (`GET /acr/v1/<name>`), its field names as its API and SDK have them. */
export interface RepositoryView {
  registry: string;
  imageName: string;
  createdTime: string;
  lastUpdateTime: string;
  manifestCount: number;
  tagCount: number;
  changeableAttributes: Attributes;
}

export interface TagView {
  name: string;
  digest: Digest;
  createdTime: string;
  lastUpdateTime: string;
  changeableAttributes: Attributes;
}

export interface ManifestView {
  digest: Digest;
  imageSize: number;
  createdTime: string;
  lastUpdateTime: string;
  architecture?: string;
  os?: string;
  mediaType: string;
  references?: { digest: Digest; architecture?: string; os?: string }[];
  tags: string[];
  changeableAttributes: Attributes;
}

/** How a listing is ordered: by name (digest for manifests), or by last update either way. */
export type ListOrder = 'name' | 'timeasc' | 'timedesc';

export interface ListRequest {
  order: ListOrder;
  /** Only the tags pointing at this manifest (tag listings). */
  digest?: Digest;
  /** Continue after this tag name or digest. */
  last?: string;
  n?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The properties ACR's metadata API (`/acr/v1`) shows of repositories, tags and manifests, with
 * their locks; listings leave out what a lock hides. Deleting a repository goes through the
 * manifest service, so locks are honoured and each delete is an event.
 */
export class Properties {
  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    private readonly locks: Locks,
    private readonly manifests: ManifestService,
  ) {}

  /** A repository's counts and times: it reads every manifest and tag of the repository. */
  async repository(repo: string): Promise<Omit<RepositoryView, 'registry'>> {
    await this.known(repo);
    let [created, updated, manifestCount] = [Infinity, 0, 0];
    for await (const m of this.meta.listManifests(repo)) {
      manifestCount++;
      created = Math.min(created, m.created);
      updated = Math.max(updated, m.updated ?? m.created);
    }
    const tags = await this.meta.listTags(repo);
    for (const t of await Promise.all(tags.map((tag) => this.meta.getTagRecord(repo, tag)))) {
      if (t) updated = Math.max(updated, t.updated);
    }
    if (manifestCount === 0) created = updated = Date.now();
    return {
      imageName: repo,
      createdTime: iso(created),
      lastUpdateTime: iso(updated),
      manifestCount,
      tagCount: tags.length,
      changeableAttributes: await this.locks.attributes({ repository: repo }),
    };
  }

  async tag(repo: string, tag: string): Promise<TagView> {
    await this.known(repo);
    const record = await this.meta.getTagRecord(repo, tag);
    if (!record) throw oci('MANIFEST_UNKNOWN', `tag ${tag} is not in ${repo}`, { tag });
    return this.tagView(repo, record);
  }

  async tags(repo: string, req: ListRequest): Promise<{ items: TagView[]; more: boolean }> {
    await this.known(repo);
    const records = async (names: string[]): Promise<TagRecord[]> =>
      (await Promise.all(names.map((t) => this.meta.getTagRecord(repo, t)))).filter((t): t is TagRecord => t !== undefined);
    const digest = req.digest;
    const fetch =
      digest !== undefined
        ? // The tags of one manifest: few, ordered here.
          async (last: string | undefined, n: number | undefined) =>
            pageByTime(
              await records(await this.meta.tagsOf(repo, digest)),
              (t) => (req.order === 'name' ? 0 : t.updated),
              (t) => t.name,
              { order: req.order === 'timedesc' ? 'desc' : 'asc', after: last, n: n ?? Number.MAX_SAFE_INTEGER },
            )
        : req.order === 'name'
          ? async (last: string | undefined, n: number | undefined) => records(await this.meta.listTags(repo, { last, n }))
          : (last: string | undefined, n: number | undefined) => this.meta.listTagsByTime(repo, timePage(req.order, last, n));
    const page = await fillPage(
      req,
      fetch,
      (t) => t.name,
      (t) => this.locks.listed({ repository: repo, tag: t.name }),
    );
    return { items: await Promise.all(page.items.map((t) => this.tagView(repo, t))), more: page.more };
  }

  async manifest(repo: string, digest: Digest): Promise<ManifestView> {
    await this.known(repo);
    const record = await this.meta.getManifest(repo, digest);
    if (!record) throw oci('MANIFEST_UNKNOWN', undefined, { digest });
    return this.manifestView(repo, record);
  }

  async manifestList(repo: string, req: ListRequest): Promise<{ items: ManifestView[]; more: boolean }> {
    await this.known(repo);
    const fetch =
      req.order === 'name'
        ? async (last: string | undefined, n: number | undefined): Promise<ManifestRecord[]> => {
            const out: ManifestRecord[] = [];
            for await (const m of this.meta.listManifests(repo, last as Digest | undefined)) {
              if (n !== undefined && out.length === n) break;
              out.push(m);
            }
            return out;
          }
        : (last: string | undefined, n: number | undefined) => this.meta.listManifestsByTime(repo, timePage(req.order, last, n));
    const page = await fillPage(
      req,
      fetch,
      (m) => m.digest,
      (m) => this.locks.listed({ repository: repo, digest: m.digest }),
    );
    return { items: await Promise.all(page.items.map((m) => this.manifestView(repo, m))), more: page.more };
  }

  /**
   * Delete a repository: every manifest (with its tags; each an event other regions apply), then its
   * blob links. Refused (LOCKED) when it, or anything in it, is locked against deletes.
   */
  async deleteRepository(repo: string): Promise<{ manifestsDeleted: Digest[]; tagsDeleted: string[] }> {
    await this.known(repo);
    await this.locks.check('delete', repo);
    const locked = await this.locks.deleteLockedWithin(repo);
    if (locked) throw oci('LOCKED', `${locked} is locked against deletes, so ${repo} cannot be deleted (georeg unlock lifts it)`);
    const tagsDeleted = await this.meta.listTags(repo);
    const manifestsDeleted: Digest[] = [];
    for await (const m of this.meta.listManifests(repo)) manifestsDeleted.push(m.digest);
    for (const digest of manifestsDeleted) await this.manifests.delete(repo, { digest, tag: undefined }).catch(ignoreGone);
    for await (const { digest } of this.meta.listBlobLinks(repo)) await this.meta.unlinkBlob(repo, digest);
    return { manifestsDeleted, tagsDeleted };
  }

  private async known(repo: string): Promise<void> {
    if (!(await this.meta.hasRepository(repo))) throw oci('NAME_UNKNOWN', undefined, { name: repo });
  }

  private async tagView(repo: string, t: TagRecord): Promise<TagView> {
    return {
      name: t.name,
      digest: t.digest,
      createdTime: iso(t.created),
      lastUpdateTime: iso(t.updated),
      changeableAttributes: await this.locks.attributes({ repository: repo, tag: t.name }),
    };
  }

  private async manifestView(repo: string, m: ManifestRecord): Promise<ManifestView> {
    // A manifest stored by a release before these facts were recorded: read them from its content.
    const facts =
      m.imageSize !== undefined ? m : await imageFacts(parseManifest(await this.blobs.readAll(m.digest), m.mediaType), this.blobs);
    const view: ManifestView = {
      digest: m.digest,
      imageSize: facts.imageSize ?? m.size,
      createdTime: iso(m.created),
      lastUpdateTime: iso(m.updated ?? m.created),
      mediaType: m.mediaType,
      tags: await this.meta.tagsOf(repo, m.digest),
      changeableAttributes: await this.locks.attributes({ repository: repo, digest: m.digest }),
    };
    if (facts.architecture !== undefined) view.architecture = facts.architecture;
    if (facts.os !== undefined) view.os = facts.os;
    if (facts.platforms !== undefined) view.references = facts.platforms;
    return view;
  }
}

function timePage(
  order: ListOrder,
  after: string | undefined,
  n: number | undefined,
): { order: 'asc' | 'desc'; after?: string; n: number } {
  return { order: order === 'timeasc' ? 'asc' : 'desc', after, n: n ?? Number.MAX_SAFE_INTEGER };
}

/** A manifest deleted meanwhile (by a peer's delete, say) is deleted all the same. */
function ignoreGone(err: unknown): void {
  if (!isOciError(err, 'MANIFEST_UNKNOWN')) throw err;
}
