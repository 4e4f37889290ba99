import { type Digest, oci, type Descriptor } from 'georeg/oci';
import {
  StaleTagChange,
  type BlobLink,
  type TagRecord,
  type TimePage,
  type ManifestRecord,
  type MetaStore,
  type OutboxEntry,
  type Page,
  type RecordStore,
  type RecordStoreName,
  type UploadSession,
  type WriteOptions,
} from './store.js';
import type { HlcTimestamp } from '../hlc.js';
import { pageByTime, type TagTimes } from './time-index.js';
import { ProcessLeases, type Lease, type LeaseName } from './lease.js';
import { DigestTree, isTreeRecordStore, manifestItem, tagItem, xorItems, type DigestTreeReader } from './digest-tree.js';

interface Repository {
  tags: Map<string, Digest>;
  tagTimes: Map<string, TagTimes>;
  manifests: Map<Digest, ManifestRecord>;
  blobs: Map<Digest, BlobLink>;
}

/**
 * MetaStore in Maps, for tests and throwaway registries. Every method body
 * runs without an `await`, which makes each mutation atomic. Values are
 * copied in and out as JSON carries them, so callers never share state with
 * the store. Reverse lookups (tagsOf, referrers) scan, and a repository's
 * digest-tree hash is computed again from all it holds at each change: fine at
 * test sizes.
 */
export class MemoryMetaStore implements MetaStore {
  /** Only this process opens it. */
  readonly shared = false;
  readonly #repos = new Map<string, Repository>();
  readonly #uploads = new Map<string, UploadSession>();
  readonly #outbox: OutboxEntry[] = [];
  /** Tag clocks by repository, then tag; they outlive the tags (and the repository). */
  readonly #clocks = new Map<string, Map<string, HlcTimestamp>>();
  readonly #tree = new DigestTree();
  /** One process opens this store: its leases are this process's. */
  readonly #leases = new ProcessLeases();
  /** Records by store name, then key. */
  readonly #records = new Map<RecordStoreName, Map<string, unknown>>();
  #outboxNext = 0;
  readonly #repositorySeqs = new Map<string, number>();

  /** `now`: the clock of tag and manifest times (ms since epoch). */
  constructor(private readonly now: () => number = Date.now) {}

  // tags

  async getTag(repo: string, tag: string): Promise<Digest | undefined> {
    return this.#repos.get(repo)?.tags.get(tag);
  }

  async listTags(repo: string, page?: Page): Promise<string[]> {
    return paginate([...(this.#repos.get(repo)?.tags.keys() ?? [])], page);
  }

  async tagsOf(repo: string, digest: Digest): Promise<string[]> {
    const tags = this.#repos.get(repo)?.tags ?? new Map<string, Digest>();
    return [...tags]
      .filter(([, d]) => d === digest)
      .map(([tag]) => tag)
      .sort();
  }

  async putTag(repo: string, tag: string, digest: Digest, opts?: WriteOptions): Promise<Digest | undefined> {
    const r = this.#repos.get(repo);
    if (r?.manifests.has(digest) !== true) throw oci('MANIFEST_UNKNOWN', undefined, { repository: repo, digest });
    this.#admit(repo, tag, opts);
    const previous = r.tags.get(tag);
    this.#clock(repo, tag, opts);
    if (previous !== digest) this.#tag(r, tag, digest);
    this.#rehash(repo);
    if (previous === digest) return previous;
    this.#emit(opts, repo);
    return previous;
  }

  async deleteTag(repo: string, tag: string, opts?: WriteOptions): Promise<boolean> {
    this.#admit(repo, tag, opts);
    const r = this.#repos.get(repo);
    const gone = r?.tags.delete(tag) ?? false;
    r?.tagTimes.delete(tag);
    if (gone || opts?.wins) this.#clock(repo, tag, opts);
    this.#rehash(repo);
    if (gone) this.#emit(opts, repo);
    return gone;
  }

  async *listTagClocks(repo: string): AsyncIterable<{ tag: string; clock: HlcTimestamp }> {
    for (const [tag, clock] of sortedEntries(this.#clocks.get(repo))) yield { tag, clock: copy(clock) };
  }

  async getTagClock(repo: string, tag: string): Promise<HlcTimestamp | undefined> {
    return this.#heldClock(repo, tag);
  }

  async getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined> {
    const r = this.#repos.get(repo);
    const digest = r?.tags.get(tag);
    const times = r?.tagTimes.get(tag);
    return digest && times && { name: tag, digest, ...times };
  }

  async listTagsByTime(repo: string, page: TimePage): Promise<TagRecord[]> {
    const r = this.#repos.get(repo);
    const all = [...(r?.tags ?? [])].map(([name, digest]) => ({ name, digest, ...(r?.tagTimes.get(name) as TagTimes) }));
    return pageByTime(
      all,
      (t) => t.updated,
      (t) => t.name,
      page,
    );
  }

  // manifests

  async getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const record = this.#repos.get(repo)?.manifests.get(digest);
    return record && copy(record);
  }

  async putManifest(repo: string, record: ManifestRecord, tag?: string, opts?: WriteOptions): Promise<void> {
    const r = this.#repository(repo);
    const created = r.manifests.get(record.digest)?.created ?? record.created;
    r.manifests.set(record.digest, copy({ ...record, created, updated: this.now() }));
    if (tag !== undefined) {
      if (r.tags.get(tag) !== record.digest) this.#tag(r, tag, record.digest);
      this.#clock(repo, tag, opts);
    }
    this.#rehash(repo);
    this.#emit(opts, repo);
  }

  async deleteManifest(repo: string, digest: Digest, opts?: WriteOptions): Promise<boolean> {
    const r = this.#repos.get(repo);
    if (r?.manifests.delete(digest) !== true) return false;
    for (const [tag, d] of r.tags) {
      if (d !== digest) continue;
      r.tags.delete(tag);
      r.tagTimes.delete(tag);
    }
    this.#dropIfEmpty(repo, r);
    this.#rehash(repo);
    this.#emit(opts, repo);
    return true;
  }

  async *listManifests(repo: string, after?: Digest): AsyncIterable<ManifestRecord> {
    yield* sortedValues(this.#repos.get(repo)?.manifests)
      .filter((m) => after === undefined || m.digest > after)
      .map(copy);
  }

  async listManifestsByTime(repo: string, page: TimePage): Promise<ManifestRecord[]> {
    const all = sortedValues(this.#repos.get(repo)?.manifests);
    return pageByTime(
      all,
      (m) => m.updated ?? m.created,
      (m) => m.digest,
      page,
    ).map(copy);
  }

  // referrers

  async listReferrers(repo: string, subject: Digest): Promise<Descriptor[]> {
    return sortedValues(this.#repos.get(repo)?.manifests)
      .filter((m) => m.subject === subject)
      .map((m) =>
        copy({ mediaType: m.mediaType, digest: m.digest, size: m.size, artifactType: m.artifactType, annotations: m.annotations }),
      );
  }

  // blob links

  async getBlobLink(repo: string, digest: Digest): Promise<BlobLink | undefined> {
    const link = this.#repos.get(repo)?.blobs.get(digest);
    return link && copy(link);
  }

  async linkBlob(repo: string, digest: Digest, link: BlobLink): Promise<void> {
    this.#repository(repo).blobs.set(digest, { size: link.size, created: link.created });
  }

  async unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    const r = this.#repos.get(repo);
    if (r?.blobs.delete(digest) !== true) return false;
    this.#dropIfEmpty(repo, r);
    return true;
  }

  async *listBlobLinks(repo: string): AsyncIterable<{ digest: Digest; link: BlobLink }> {
    for (const [digest, link] of sortedEntries(this.#repos.get(repo)?.blobs)) yield { digest, link: copy(link) };
  }

  // repositories

  async listRepositories(page?: Page): Promise<string[]> {
    return paginate([...this.#repos.keys()], page);
  }

  async hasRepository(repo: string): Promise<boolean> {
    return this.#repos.has(repo);
  }

  // upload sessions

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const session = this.#uploads.get(id);
    return session && copy(session);
  }

  async putUpload(session: UploadSession): Promise<void> {
    this.#uploads.set(session.id, copy(session));
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.#uploads.delete(id);
  }

  async *listUploads(): AsyncIterable<UploadSession> {
    yield* sortedValues(this.#uploads).map(copy);
  }

  // named record stores

  records<T>(name: RecordStoreName): RecordStore<T> {
    let records = this.#records.get(name);
    if (!records) this.#records.set(name, (records = new Map()));
    const held = records;
    return {
      get: async (key) => (held.has(key) ? copy(held.get(key) as T) : undefined),
      put: async (key, record, opts = {}) => {
        if (opts.wins && !opts.wins(held.has(key) ? copy(held.get(key) as T) : undefined)) return false;
        if (isTreeRecordStore(name)) this.#tree.recordChanged(name, key, held.get(key), record);
        held.set(key, copy(record));
        this.#emit({ events: opts.events });
        return true;
      },
      async *list(prefix = '') {
        for (const [key, record] of sortedEntries(held)) if (key.startsWith(prefix)) yield { key, record: copy(record as T) };
      },
    };
  }

  tryLease(name: LeaseName): Promise<Lease | undefined> {
    return this.#leases.tryLease(name);
  }

  digestTree(): DigestTreeReader {
    return this.#tree;
  }

  // outbox

  async readOutbox(limit: number): Promise<OutboxEntry[]> {
    return this.#outbox.slice(0, limit).map((e) => ({ ...e, event: Uint8Array.from(e.event) }));
  }

  async deleteOutbox(seqs: number[]): Promise<void> {
    const gone = new Set(seqs);
    for (let i = this.#outbox.length - 1; i >= 0; i--) if (gone.has(this.#outbox[i]?.seq ?? -1)) this.#outbox.splice(i, 1);
  }

  outboxDepth(): number {
    return this.#outbox.length;
  }

  async close(): Promise<void> {}

  #heldClock(repo: string, tag: string): HlcTimestamp | undefined {
    const c = this.#clocks.get(repo)?.get(tag);
    return c && copy(c);
  }

  /** Refuses a conditional tag change (`opts.wins`) that loses to the clock the tag holds. */
  #admit(repo: string, tag: string, opts: WriteOptions | undefined): void {
    if (opts?.wins && !opts.wins(this.#heldClock(repo, tag))) throw new StaleTagChange(repo, tag);
  }

  #clock(repo: string, tag: string, opts: WriteOptions | undefined): void {
    if (!opts?.tagClock) return;
    let clocks = this.#clocks.get(repo);
    if (!clocks) this.#clocks.set(repo, (clocks = new Map()));
    clocks.set(tag, copy(opts.tagClock));
  }

  /** The repository's digest-tree hash, from its tags, tag clocks and manifests. */
  #rehash(repo: string): void {
    const r = this.#repos.get(repo);
    const clocks = this.#clocks.get(repo);
    const tags = new Set([...(r?.tags.keys() ?? []), ...(clocks?.keys() ?? [])]);
    const items = [...tags].map((tag) => tagItem(tag, r?.tags.get(tag), clocks?.get(tag)));
    for (const digest of r?.manifests.keys() ?? []) items.push(manifestItem(digest));
    this.#tree.setRepository(repo, xorItems(undefined, items));
  }

  /** Point a tag at another digest: created stays (or is now), updated is now. */
  #tag(r: Repository, tag: string, digest: Digest): void {
    r.tags.set(tag, digest);
    const now = this.now();
    r.tagTimes.set(tag, { created: r.tagTimes.get(tag)?.created ?? now, updated: now });
  }

  /** Append `opts.events` to the outbox, numbered among `repo`'s events when they are a repository's. */
  #emit(opts: WriteOptions | undefined, repo?: string): void {
    for (const e of opts?.events ?? []) {
      const entry: OutboxEntry = { seq: this.#outboxNext++, event: Uint8Array.from(e) };
      if (repo !== undefined) {
        entry.repositorySeq = (this.#repositorySeqs.get(repo) ?? 0) + 1;
        this.#repositorySeqs.set(repo, entry.repositorySeq);
      }
      this.#outbox.push(entry);
    }
  }

  #repository(repo: string): Repository {
    let r = this.#repos.get(repo);
    if (r === undefined) {
      r = { tags: new Map(), tagTimes: new Map(), manifests: new Map(), blobs: new Map() };
      this.#repos.set(repo, r);
    }
    return r;
  }

  /** Tags point only at manifests, so manifests and blob links keep a repository. */
  #dropIfEmpty(repo: string, r: Repository): void {
    if (r.manifests.size === 0 && r.blobs.size === 0) this.#repos.delete(repo);
  }
}

/** Sorted entries strictly after `page.last`, at most `page.n` of them. */
function paginate(entries: string[], page: Page = {}): string[] {
  const { last, n } = page;
  if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new RangeError(`invalid page size ${n}`);
  const after = last === undefined ? entries : entries.filter((e) => e > last);
  return after.sort().slice(0, n);
}

/** Entries of a map ordered by key. */
function sortedEntries<K extends string, V>(map: Map<K, V> | undefined): [K, V][] {
  return [...(map ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function sortedValues<V>(map: Map<string, V> | undefined): V[] {
  return sortedEntries(map).map(([, v]) => v);
}

function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
