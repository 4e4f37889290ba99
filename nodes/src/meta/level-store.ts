import { Level } from 'level';
import { type Digest, oci, type Descriptor } from 'georeg/oci';
import { Lru } from '../lru.js';
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
import { KeyedLock } from '../keyed-lock.js';
import { migrateSettings } from './settings-migration.js';
import { notHere, timeKey, type TagTimes } from './time-index.js';
import { migrateLayout } from './layout.js';
import {
  DigestTree,
  TREE_RECORD_STORES,
  isTreeRecordStore,
  manifestItem,
  tagItems,
  xorItems,
  type DigestTreeReader,
} from './digest-tree.js';
import { ProcessLeases, type Lease, type LeaseName } from './lease.js';

/*
 * Key layout: string keys, JSON values.
 *
 *   r!<repo>                     → true            the repository exists
 *   t!<repo>!<tag>               → Digest
 *   d!<repo>!<digest>!<tag>      → true            reverse tag index: tagsOf, deleteManifest
 *   m!<repo>!<digest>            → ManifestRecord
 *   f!<repo>!<subject>!<digest>  → Descriptor      referrers of <subject>
 *   b!<repo>!<digest>            → BlobLink
 *   u!<id>                       → UploadSession
 *   o!<16-digit seq>             → outbox value    the outbox, in write order: { event (base64),
 *                                                  repositorySeq }, or (an earlier release's) the
 *                                                  base64 event alone
 *   q!<repo>                     → number          the repository's events so far (OutboxEntry.repositorySeq)
 *   h!<repo>!<tag>               → HlcTimestamp    when the tag last changed (kept after a delete)
 *   g!<repo>!<tag>               → TagTimes        when the tag was created and last moved here
 *   T!<repo>!<updated>!<tag>     → true            tags in time order (13-digit ms)
 *   M!<repo>!<updated>!<digest>  → true            manifests in time order (ManifestRecord.updated)
 *   z!<repo>                     → hex             the repository's digest-tree hash (digest-tree.ts),
 *                                                  written in the batch of each change it summarises
 *   v!schema                     → number          the layout's version (2: g!, T! and M! exist; 3: z!
 *                                                  exists; 4: q! and object outbox values; built at
 *                                                  open from an older store, layout.ts)
 *   n!<store>!<key>              → JSON record     the named record stores (RECORD_STORES); from the
 *                                                  previous release's s!<key> settings, moved at open
 *
 * '!' sorts below every character of repository names, tags and digests, so
 * key order is component order and the range of a prefix p, [p + '!', p + '"'),
 * holds nothing else: 'a' never bleeds into 'a-b', 'a/b' or 'ab'.
 *
 * A tag can point only at a linked manifest and goes with it, so r!<repo> is
 * kept while the repository has a manifest or a blob link. Each mutation is
 * one batch, serialised per repository (it reads before it writes).
 *
 * t!, m! and b! reads (tags, manifests, blob links: the pull path) go
 * through a write-through LRU. This process is the only writer, and every
 * batch stores its t!/m!/b! values (null for a delete) in the
 * cache once committed, so the cache stays exact, misses included. A read
 * that straddles a commit does not fill the cache (the epoch changed).
 */
const SEP = '!';
const END = '"';
const DEFAULT_CACHE_SIZE = 10_000;

type Op = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

/** What a change does to a repository's digest-tree hash: items that come and go (XORed in either way). */
interface TreeChange {
  repo: string;
  items: (Buffer | undefined)[];
}

export interface LevelMetaStoreOptions {
  /** Entries in the tag, manifest and blob-link cache. */
  cacheSize?: number;
  /** The clock of tag and manifest times (ms since epoch). */
  now?: () => number;
}

export class LevelMetaStore implements MetaStore {
  /** Only this process opens it. */
  readonly shared = false;
  readonly #db: Level<string, unknown>;
  readonly #cache: Lru<string, unknown>;
  readonly #locks = new KeyedLock();
  #epoch = 0;
  /** Sorted tag lists of recently listed repositories (dropped on any tag change of theirs). */
  readonly #tagLists = new Lru<string, string[]>(TAG_LIST_CACHE, (tags) => tags.length + 1);
  #outboxNext = 0;
  #outboxDepth = 0;
  /** q! values of recently changed repositories. */
  readonly #repositorySeqs = new Lru<string, number>(REPOSITORY_SEQ_CACHE);
  readonly #now: () => number;
  readonly #tree = new DigestTree();
  /** One process opens this store: its leases are this process's. */
  readonly #leases = new ProcessLeases();

  private constructor(db: Level<string, unknown>, cacheSize: number, now: () => number) {
    this.#db = db;
    this.#cache = new Lru(cacheSize);
    this.#now = now;
  }

  static async open(dir: string, options: LevelMetaStoreOptions = {}): Promise<LevelMetaStore> {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    try {
      await migrateSettings(db, (store, k) => key('n', store, k));
      await migrateLayout(db, { key, range });
    } catch (e) {
      await db.close();
      throw e;
    }
    const store = new LevelMetaStore(db, options.cacheSize ?? DEFAULT_CACHE_SIZE, options.now ?? Date.now);
    await store.#loadTree();
    const outbox = await db.keys(range('o')).all();
    store.#outboxDepth = outbox.length;
    store.#outboxNext = outbox.length ? Number(outbox[outbox.length - 1]?.slice(2)) + 1 : 0;
    return store;
  }

  // tags

  async getTag(repo: string, tag: string): Promise<Digest | undefined> {
    return this.#read<Digest>(key('t', repo, tag));
  }

  async listTags(repo: string, page: Page = {}): Promise<string[]> {
    let all = this.#tagLists.get(repo);
    if (!all) {
      const epoch = this.#epoch;
      all = await this.#listKeys(['t', repo]);
      if (epoch === this.#epoch) this.#tagLists.set(repo, all);
    }
    return pageOf(all, page);
  }

  tagsOf(repo: string, digest: Digest): Promise<string[]> {
    return this.#listKeys(['d', repo, digest]);
  }

  putTag(repo: string, tag: string, digest: Digest, opts?: WriteOptions): Promise<Digest | undefined> {
    return this.#locks.run(repo, async () => {
      if ((await this.#read(key('m', repo, digest))) === undefined) {
        throw oci('MANIFEST_UNKNOWN', undefined, { repository: repo, digest });
      }
      const held = await this.#admit(repo, tag, opts);
      const previous = await this.getTag(repo, tag);
      const tree = { repo, items: tagItems(tag, previous, digest, held, opts?.tagClock) };
      if (previous !== digest) await this.#commit(await this.#tagOps(repo, tag, digest, previous, opts?.tagClock), opts, tree);
      else if (opts?.tagClock) await this.#commit([put(key('h', repo, tag), opts.tagClock)], undefined, tree);
      return previous;
    });
  }

  deleteTag(repo: string, tag: string, opts?: WriteOptions): Promise<boolean> {
    return this.#locks.run(repo, async () => {
      const held = await this.#admit(repo, tag, opts);
      const digest = await this.getTag(repo, tag);
      const clock = opts?.tagClock ? [put(key('h', repo, tag), opts.tagClock)] : [];
      const tree = { repo, items: tagItems(tag, digest, undefined, held, opts?.tagClock) };
      if (digest === undefined) {
        if (clock.length && opts?.wins) await this.#commit(clock, undefined, tree);
        return false;
      }
      await this.#commit([...(await this.#untagOps(repo, tag, digest)), ...clock], opts, tree);
      return true;
    });
  }

  async getTagClock(repo: string, tag: string): Promise<HlcTimestamp | undefined> {
    return this.#read<HlcTimestamp>(key('h', repo, tag));
  }

  async *listTagClocks(repo: string): AsyncIterable<{ tag: string; clock: HlcTimestamp }> {
    const bounds = range('h', repo);
    for await (const [k, clock] of this.#db.iterator(bounds)) yield { tag: k.slice(bounds.gte.length), clock: clock as HlcTimestamp };
  }

  async getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined> {
    const [digest, times] = await Promise.all([this.getTag(repo, tag), this.#db.get(key('g', repo, tag)) as Promise<TagTimes | undefined>]);
    return digest && times && { name: tag, digest, ...times };
  }

  async listTagsByTime(repo: string, page: TimePage): Promise<TagRecord[]> {
    const names = await this.#byTime(
      'T',
      repo,
      page,
      async (tag) => ((await this.#db.get(key('g', repo, tag))) as TagTimes | undefined)?.updated,
    );
    const records = await Promise.all(names.map((t) => this.getTagRecord(repo, t)));
    return records.filter((r): r is TagRecord => r !== undefined);
  }

  // manifests

  async getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const record = await this.#read<ManifestRecord>(key('m', repo, digest));
    return record && copy(record);
  }

  putManifest(repo: string, record: ManifestRecord, tag?: string, opts?: WriteOptions): Promise<void> {
    return this.#locks.run(repo, async () => {
      const mkey = key('m', repo, record.digest);
      const old = await this.#read<ManifestRecord>(mkey);
      const stored = copy({ ...record, created: old?.created ?? record.created, updated: this.#now() });
      const ops: Op[] = [
        put(mkey, stored),
        put(key('r', repo), true),
        put(timeKey(key, 'M', repo, stored.updated as number, stored.digest), true),
      ];
      if (old) ops.push(del(timeKey(key, 'M', repo, old.updated ?? old.created, old.digest)));
      if (old?.subject !== undefined && old.subject !== stored.subject) {
        ops.push(del(key('f', repo, old.subject, old.digest)));
      }
      if (stored.subject !== undefined) {
        ops.push(put(key('f', repo, stored.subject, stored.digest), descriptorOf(stored)));
      }
      const tree: TreeChange = { repo, items: old ? [] : [manifestItem(stored.digest)] };
      if (tag !== undefined) {
        const previous = await this.getTag(repo, tag);
        ops.push(...(await this.#tagOps(repo, tag, stored.digest, previous, opts?.tagClock)));
        tree.items.push(...tagItems(tag, previous, stored.digest, await this.getTagClock(repo, tag), opts?.tagClock));
      }
      await this.#commit(ops, opts, tree);
    });
  }

  deleteManifest(repo: string, digest: Digest, opts?: WriteOptions): Promise<boolean> {
    return this.#locks.run(repo, async () => {
      const mkey = key('m', repo, digest);
      const record = await this.#read<ManifestRecord>(mkey);
      if (record === undefined) return false;
      const ops: Op[] = [del(mkey), del(timeKey(key, 'M', repo, record.updated ?? record.created, digest))];
      const tree: TreeChange = { repo, items: [manifestItem(digest)] };
      for (const tag of await this.tagsOf(repo, digest)) {
        ops.push(...(await this.#untagOps(repo, tag, digest)));
        tree.items.push(...tagItems(tag, digest, undefined, await this.getTagClock(repo, tag)));
      }
      if (record.subject !== undefined) ops.push(del(key('f', repo, record.subject, digest)));
      if (!(await this.#keepsRepository(repo, mkey))) ops.push(del(key('r', repo)));
      await this.#commit(ops, opts, tree);
      return true;
    });
  }

  async *listManifests(repo: string, after?: Digest): AsyncIterable<ManifestRecord> {
    const { gte, lt } = range('m', repo);
    for await (const value of this.#db.values(after === undefined ? { gte, lt } : { gt: gte + after, lt })) yield value as ManifestRecord;
  }

  async listManifestsByTime(repo: string, page: TimePage): Promise<ManifestRecord[]> {
    const held = async (digest: string): Promise<number | undefined> => {
      const r = await this.#read<ManifestRecord>(key('m', repo, digest));
      return r && (r.updated ?? r.created);
    };
    const digests = await this.#byTime('M', repo, page, held);
    const records = await Promise.all(digests.map((d) => this.getManifest(repo, d as Digest)));
    return records.filter((r): r is ManifestRecord => r !== undefined);
  }

  // referrers

  async listReferrers(repo: string, subject: Digest): Promise<Descriptor[]> {
    return (await this.#db.values(range('f', repo, subject)).all()) as Descriptor[];
  }

  // blob links

  async getBlobLink(repo: string, digest: Digest): Promise<BlobLink | undefined> {
    return this.#read<BlobLink>(key('b', repo, digest));
  }

  linkBlob(repo: string, digest: Digest, link: BlobLink): Promise<void> {
    return this.#locks.run(repo, () =>
      this.#commit([put(key('b', repo, digest), { size: link.size, created: link.created }), put(key('r', repo), true)]),
    );
  }

  unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    return this.#locks.run(repo, async () => {
      const bkey = key('b', repo, digest);
      if ((await this.#read(bkey)) === undefined) return false;
      const ops: Op[] = [del(bkey)];
      if (!(await this.#keepsRepository(repo, bkey))) ops.push(del(key('r', repo)));
      await this.#commit(ops);
      return true;
    });
  }

  async *listBlobLinks(repo: string): AsyncIterable<{ digest: Digest; link: BlobLink }> {
    const bounds = range('b', repo);
    for await (const [k, link] of this.#db.iterator(bounds)) {
      yield { digest: k.slice(bounds.gte.length) as Digest, link: link as BlobLink };
    }
  }

  // repositories

  listRepositories(page?: Page): Promise<string[]> {
    return this.#listKeys(['r'], page);
  }

  async hasRepository(repo: string): Promise<boolean> {
    return this.#db.has(key('r', repo));
  }

  // upload sessions

  async getUpload(id: string): Promise<UploadSession | undefined> {
    return this.#read<UploadSession>(key('u', id));
  }

  async putUpload(session: UploadSession): Promise<void> {
    const ukey = key('u', session.id);
    return this.#locks.run(ukey, () => this.#commit([put(ukey, copy(session))]));
  }

  async deleteUpload(id: string): Promise<boolean> {
    const ukey = key('u', id);
    return this.#locks.run(ukey, async () => {
      if ((await this.#read(ukey)) === undefined) return false;
      await this.#commit([del(ukey)]);
      return true;
    });
  }

  async *listUploads(): AsyncIterable<UploadSession> {
    for await (const value of this.#db.values(range('u'))) yield value as UploadSession;
  }

  // named record stores

  records<T>(name: RecordStoreName): RecordStore<T> {
    const base = range('n', name).gte;
    const db = this.#db;
    return {
      get: (k) => this.#read<T>(key('n', name, k)),
      put: (k, record, opts = {}) => {
        const nkey = key('n', name, k);
        // One put of a key at a time: the record compared and replaced in the digest tree is the one held.
        return this.#locks.run(nkey, async () => {
          const held = isTreeRecordStore(name) || opts.wins ? await this.#read<T>(nkey) : undefined;
          if (opts.wins && !opts.wins(held)) return false;
          await this.#commit([put(nkey, record)], { events: opts.events });
          if (isTreeRecordStore(name)) this.#tree.recordChanged(name, k, held, record);
          return true;
        });
      },
      async *list(prefix = '') {
        const start = base + prefix;
        for await (const [k, record] of db.iterator({ gte: start, lt: start + '\uffff' }))
          yield { key: k.slice(base.length), record: record as T };
      },
    };
  }

  // digest tree

  tryLease(name: LeaseName): Promise<Lease | undefined> {
    return this.#leases.tryLease(name);
  }

  digestTree(): DigestTreeReader {
    return this.#tree;
  }

  // outbox

  async readOutbox(limit: number): Promise<OutboxEntry[]> {
    const entries = await this.#db.iterator({ ...range('o'), limit }).all();
    return entries.map(([k, v]) => {
      const { event, repositorySeq } = typeof v === 'string' ? { event: v, repositorySeq: undefined } : (v as OutboxValue);
      return { seq: Number(k.slice(2)), event: Buffer.from(event, 'base64'), ...(repositorySeq !== undefined && { repositorySeq }) };
    });
  }

  async deleteOutbox(seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.#db.batch(seqs.map((s) => del(outboxKey(s))));
    this.#outboxDepth -= seqs.length;
  }

  outboxDepth(): number {
    return this.#outboxDepth;
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  // internals

  /**
   * The clock the tag holds; refuses a conditional tag change (`opts.wins`) that loses to it. Run
   * under the repository's lock.
   */
  async #admit(repo: string, tag: string, opts: WriteOptions | undefined): Promise<HlcTimestamp | undefined> {
    const held = await this.getTagClock(repo, tag);
    if (opts?.wins && !opts.wins(held)) throw new StaleTagChange(repo, tag);
    return held;
  }

  /** A value by key; t!, m! and b! keys through the cache. */
  async #read<T>(k: string): Promise<T | undefined> {
    if (!cached(k)) return (await this.#db.get(k)) as T | undefined;
    const hit = this.#cache.get(k);
    if (hit !== undefined) return (hit ?? undefined) as T | undefined;
    const epoch = this.#epoch;
    const value = await this.#db.get(k);
    if (epoch === this.#epoch) this.#cache.set(k, value ?? null);
    return value as T | undefined;
  }

  /**
   * Write `ops` as one batch, with `opts.events` in the outbox and the repository hash `tree`
   * leads to (under the repository's lock: the hash read is the one this batch replaces).
   */
  async #commit(ops: Op[], opts?: WriteOptions, tree?: TreeChange): Promise<void> {
    const events = opts?.events ?? [];
    // A repository's events are numbered (its lock is held); the others are not.
    let numbered = tree && events.length > 0 ? await this.#repositorySeq(tree.repo) : undefined;
    for (const e of events) {
      const event = Buffer.from(e).toString('base64');
      const value: OutboxValue = numbered === undefined ? { event } : { event, repositorySeq: ++numbered };
      ops.push(put(outboxKey(this.#outboxNext++), value));
    }
    if (tree && numbered !== undefined) ops.push(put(key('q', tree.repo), numbered));
    const hashed = tree && xorItems(this.#tree.repository(tree.repo), tree.items);
    if (tree) ops.push(hashed ? put(key('z', tree.repo), hashed.toString('hex')) : del(key('z', tree.repo)));
    await this.#db.batch(ops);
    if (tree) this.#tree.setRepository(tree.repo, hashed);
    if (tree && numbered !== undefined) this.#repositorySeqs.set(tree.repo, numbered);
    this.#outboxDepth += events.length;
    this.#epoch++;
    for (const op of ops) {
      if (cached(op.key)) this.#cache.set(op.key, op.type === 'put' ? op.value : null);
      if (op.key.startsWith('t' + SEP)) this.#tagLists.delete(op.key.slice(2, op.key.lastIndexOf(SEP)));
    }
  }

  /** How many events of `repo` this store has written (under the repository's lock). */
  async #repositorySeq(repo: string): Promise<number> {
    const cached = this.#repositorySeqs.get(repo);
    if (cached !== undefined) return cached;
    return ((await this.#db.get(key('q', repo))) as number | undefined) ?? 0;
  }

  /** Fill the digest tree from the repository hashes and the replicated records. */
  async #loadTree(): Promise<void> {
    const hashes = range('z');
    for await (const [k, hex] of this.#db.iterator(hashes)) {
      this.#tree.setRepository(k.slice(hashes.gte.length), Buffer.from(hex as string, 'hex'));
    }
    for (const name of TREE_RECORD_STORES) {
      for await (const { key: k, record } of this.records(name).list()) this.#tree.recordChanged(name, k, undefined, record);
    }
  }

  /** Point `tag` at `digest`, dropping the reverse entry of the digest it leaves, and keep its times and time-order entry. */
  async #tagOps(repo: string, tag: string, digest: Digest, previous: Digest | undefined, clock?: HlcTimestamp): Promise<Op[]> {
    const ops = [put(key('t', repo, tag), digest), put(key('d', repo, digest, tag), true)];
    if (previous !== undefined && previous !== digest) ops.push(del(key('d', repo, previous, tag)));
    if (clock) ops.push(put(key('h', repo, tag), clock));
    const old = previous === undefined ? undefined : ((await this.#db.get(key('g', repo, tag))) as TagTimes | undefined);
    const now = this.#now();
    const times: TagTimes = { created: old?.created ?? now, updated: now };
    if (old) ops.push(del(timeKey(key, 'T', repo, old.updated, tag)));
    ops.push(put(key('g', repo, tag), times), put(timeKey(key, 'T', repo, times.updated, tag), true));
    return ops;
  }

  /** Remove `tag` (pointing at `digest`), its times and its time-order entry. */
  async #untagOps(repo: string, tag: string, digest: Digest): Promise<Op[]> {
    const ops = [del(key('t', repo, tag)), del(key('d', repo, digest, tag)), del(key('g', repo, tag))];
    const times = (await this.#db.get(key('g', repo, tag))) as TagTimes | undefined;
    if (times) ops.push(del(timeKey(key, 'T', repo, times.updated, tag)));
    return ops;
  }

  /**
   * Names (tags or digests) of a time index (`T` or `M`) in `page.order`, after `page.after`, whose
   * time `timeOf` reads; at most `page.n`.
   */
  async #byTime(index: 'T' | 'M', repo: string, page: TimePage, timeOf: (name: string) => Promise<number | undefined>): Promise<string[]> {
    const { gte, lt } = range(index, repo);
    let bounds: { gte?: string; gt?: string; lt?: string; lte?: string } = { gte, lt };
    if (page.after !== undefined) {
      const at = await timeOf(page.after);
      if (at === undefined) throw notHere(page.after);
      const from = timeKey(key, index, repo, at, page.after);
      bounds = page.order === 'asc' ? { gt: from, lt } : { gte, lt: from };
    }
    const keys = await this.#db.keys({ ...bounds, reverse: page.order === 'desc', limit: page.n }).all();
    return keys.map((k) => k.slice(k.lastIndexOf(SEP) + 1));
  }

  /** The last components of the keys under a prefix, sorted, after `page.last`. */
  async #listKeys(prefix: string[], page: Page = {}): Promise<string[]> {
    const { gte, lt } = range(...prefix);
    if (page.n !== undefined && !(Number.isInteger(page.n) && page.n >= 0)) throw new RangeError(`invalid page size ${page.n}`);
    const from = page.last === undefined ? { gte } : { gt: gte + page.last };
    const keys = await this.#db.keys({ ...from, lt, limit: page.n ?? Infinity }).all();
    return keys.map((k) => k.slice(gte.length));
  }

  /** Whether the repository keeps a manifest or blob link once `removed` is deleted. */
  async #keepsRepository(repo: string, removed: string): Promise<boolean> {
    for (const kind of ['m', 'b']) {
      const keys = await this.#db.keys({ ...range(kind, repo), limit: 2 }).all();
      if (keys.some((k) => k !== removed)) return true;
    }
    return false;
  }
}

function key(...parts: string[]): string {
  for (const part of parts) {
    if (part.includes(SEP)) throw new RangeError(`metadata key component contains '${SEP}': ${part}`);
  }
  return parts.join(SEP);
}

/** Tags held in the tag-list cache, over all repositories. */
const TAG_LIST_CACHE = 200_000;
/** Repositories whose event count (q!) is kept in memory. */
const REPOSITORY_SEQ_CACHE = 10_000;

/** An outbox entry as stored. */
interface OutboxValue {
  event: string;
  repositorySeq?: number;
}

/** Entries of a sorted list strictly after `page.last`, at most `page.n` of them. */
function pageOf(sorted: string[], page: Page): string[] {
  const { last, n } = page;
  if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new RangeError(`invalid page size ${n}`);
  let lo = 0;
  if (last !== undefined) {
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as string) <= last) lo = mid + 1;
      else hi = mid;
    }
  }
  return sorted.slice(lo, n === undefined ? undefined : lo + n);
}

/** Outbox keys sort in write order: o!<16-digit sequence>. */
function outboxKey(seq: number): string {
  return key('o', String(seq).padStart(16, '0'));
}

function range(...prefix: string[]): { gte: string; lt: string } {
  const p = key(...prefix);
  return { gte: p + SEP, lt: p + END };
}

function cached(k: string): boolean {
  return k[1] === SEP && (k[0] === 't' || k[0] === 'm' || k[0] === 'b');
}

function put(k: string, value: unknown): Op {
  return { type: 'put', key: k, value };
}

function del(k: string): Op {
  return { type: 'del', key: k };
}

function descriptorOf(r: ManifestRecord): Descriptor {
  return { mediaType: r.mediaType, digest: r.digest, size: r.size, artifactType: r.artifactType, annotations: r.annotations };
}

/** A deep copy as JSON carries it (undefined properties dropped), like a stored value. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
