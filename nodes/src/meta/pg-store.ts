import type { PoolClient } from 'pg';
import { type Digest, oci, type Descriptor } from 'georeg/oci';
import { StaleTagChange } from './store.js';
import type { BlobLink, ManifestRecord, MetaStore, OutboxEntry, Page, TagRecord, TimePage } from './store.js';
import type { RecordStore, RecordStoreName, UploadSession, WriteOptions } from './store.js';
import type { HlcTimestamp } from '../hlc.js';
import { manifestItem, tagItems, type DigestTreeReader } from './digest-tree.js';
import { migrate } from './pg-schema.js';
import { appendOutbox, lockRepository, transaction } from './pg-transaction.js';
import { changeRepositoryHash, PgDigestTree } from './pg-tree.js';
import { pointTag, setTagClock, tagState } from './pg-tags.js';
import { pgRecordStore } from './pg-records.js';
import { pgLease } from './pg-lease.js';
import { openDb, type Db } from './pg-db.js';
import { OutboxDepth } from './pg-outbox-depth.js';
import { PgDigestLocks } from './pg-digest-locks.js';
import type { Lease, LeaseName } from './lease.js';
import { checkPageSize, keyset, pageByTimeSql, tagRecord, type TagRow } from './pg-rows.js';

/*
 * MetaStore in PostgreSQL (pg-schema.ts), which several nodes can share: any of them reads what
 * another wrote, upload sessions included, so any node behind a load balancer continues any upload.
 *
 * Each mutation is one transaction with its outbox events. Those that change a repository first
 * take the repository's advisory lock (pg-transaction.ts), in whichever process: a conditional tag
 * change reads the clock it is asked about and writes in one serialised step, and the change's
 * digest-tree hash (pg-tree.ts) is computed from the one it replaces. Outbox sequences come from
 * an identity column: in write order within a repository (its changes are serialised); changes of
 * different repositories may commit out of sequence order, which nothing orders across repositories.
 * A database out of reach fails a call with UNAVAILABLE (pg-db.ts, pg-unreachable.ts).
 */

/** Where a mutation's changes go: its transaction, and the digest-tree items it swaps in its repository. */
type Change = { c: PoolClient; items: (Buffer | undefined)[] };
/** What a mutation returns, and whether it changed anything (only then are its events written). */
type Changed<T> = { result: T; changed: boolean };

/** How long a query of a request may go unanswered before it fails (UNAVAILABLE): far above any query's time, far below TCP's. */
const QUERY_TIMEOUT_MS = 30_000;

export interface PgMetaStoreOptions {
  /** Connections at most in the pool. */
  poolSize?: number;
  /** A query unanswered this long fails, as from a database out of reach (default 30 s; schema migrations have no limit). */
  queryTimeoutMs?: number;
  /** The clock of tag and manifest times (ms since epoch). */
  now?: () => number;
}

export class PgMetaStore implements MetaStore {
  /** Nodes sharing the database write it too. */
  readonly shared = true;
  readonly digestLocks: PgDigestLocks;
  readonly #pool: Db;
  readonly #now: () => number;
  readonly #tree: PgDigestTree;
  readonly #url: string;
  readonly #outboxDepth: OutboxDepth;

  private constructor(pool: Db, digestLocks: PgDigestLocks, url: string, now: () => number) {
    this.#pool = pool;
    this.digestLocks = digestLocks;
    this.#url = url;
    this.#now = now;
    this.#tree = new PgDigestTree(pool);
    this.#outboxDepth = new OutboxDepth(async () => {
      const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox');
      return Number(rows[0]?.n ?? 0);
    });
  }

  /** Connect to the database `url` names and bring its schema up to date (pg-schema.ts). */
  static async open(url: string, options: PgMetaStoreOptions = {}): Promise<PgMetaStore> {
    const timeout = options.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
    const pool = openDb(url, options.poolSize ?? 10, timeout);
    // The digest locks on two connections of their own: one session for every writer's holds, one for GC's.
    const store = new PgMetaStore(pool, new PgDigestLocks(openDb(url, 2, timeout)), url, options.now ?? Date.now);
    try {
      // On a connection without a query time limit: a migration may build indexes of a large database.
      const migrating = openDb(url, 1);
      await migrate(migrating).finally(() => migrating.end());
      await store.#outboxDepth.count();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  // tags

  async getTag(repo: string, tag: string): Promise<Digest | undefined> {
    const { rows } = await this.#pool.query<{ digest: Digest }>('SELECT digest FROM tags WHERE repo = $1 AND name = $2', [repo, tag]);
    return rows[0]?.digest;
  }

  async listTags(repo: string, page: Page = {}): Promise<string[]> {
    checkPageSize(page.n);
    const { rows } = await this.#pool.query<{ name: string }>(
      'SELECT name FROM tags WHERE repo = $1 AND name > $2 ORDER BY name LIMIT $3',
      [repo, page.last ?? '', page.n ?? null],
    );
    return rows.map((r) => r.name);
  }

  async tagsOf(repo: string, digest: Digest): Promise<string[]> {
    const { rows } = await this.#pool.query<{ name: string }>('SELECT name FROM tags WHERE repo = $1 AND digest = $2 ORDER BY name', [
      repo,
      digest,
    ]);
    return rows.map((r) => r.name);
  }

  putTag(repo: string, tag: string, digest: Digest, opts?: WriteOptions): Promise<Digest | undefined> {
    return this.#change(repo, opts, async ({ c, items }) => {
      const linked = await c.query('SELECT 1 FROM manifests WHERE repo = $1 AND digest = $2', [repo, digest]);
      if (linked.rowCount === 0) throw oci('MANIFEST_UNKNOWN', undefined, { repository: repo, digest });
      const held = await tagState(c, repo, tag);
      if (opts?.wins && !opts.wins(held.clock)) throw new StaleTagChange(repo, tag);
      items.push(...tagItems(tag, held.digest, digest, held.clock, opts?.tagClock));
      if (opts?.tagClock) await setTagClock(c, repo, tag, opts.tagClock);
      if (held.digest === digest) return { result: digest, changed: false };
      await pointTag(c, repo, tag, digest, this.#now());
      return { result: held.digest, changed: true };
    });
  }

  deleteTag(repo: string, tag: string, opts?: WriteOptions): Promise<boolean> {
    return this.#change(repo, opts, async ({ c, items }) => {
      const held = await tagState(c, repo, tag);
      if (opts?.wins && !opts.wins(held.clock)) throw new StaleTagChange(repo, tag);
      const clock = opts?.tagClock;
      // A local delete of an absent tag changes nothing; a peer's (conditional) one records its clock.
      if (held.digest === undefined && !(clock && opts?.wins)) return { result: false, changed: false };
      if (clock) await setTagClock(c, repo, tag, clock);
      items.push(...tagItems(tag, held.digest, undefined, held.clock, clock));
      if (held.digest === undefined) return { result: false, changed: false };
      await c.query('DELETE FROM tags WHERE repo = $1 AND name = $2', [repo, tag]);
      return { result: true, changed: true };
    });
  }

  async getTagClock(repo: string, tag: string): Promise<HlcTimestamp | undefined> {
    const { rows } = await this.#pool.query<{ clock: HlcTimestamp }>('SELECT clock FROM tag_clocks WHERE repo = $1 AND tag = $2', [
      repo,
      tag,
    ]);
    return rows[0]?.clock;
  }

  listTagClocks(repo: string): AsyncIterable<{ tag: string; clock: HlcTimestamp }> {
    return keyset(
      (after, limit) =>
        this.#pool.query<{ tag: string; clock: HlcTimestamp }>(
          'SELECT tag, clock FROM tag_clocks WHERE repo = $1 AND tag > $2 ORDER BY tag LIMIT $3',
          [repo, after ?? '', limit],
        ),
      (row) => row.tag,
    );
  }

  async getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined> {
    const { rows } = await this.#pool.query<TagRow>('SELECT name, digest, created, updated FROM tags WHERE repo = $1 AND name = $2', [
      repo,
      tag,
    ]);
    return rows[0] && tagRecord(rows[0]);
  }

  async listTagsByTime(repo: string, page: TimePage): Promise<TagRecord[]> {
    return (await pageByTimeSql<TagRow>(this.#pool, 'tags', repo, page)).map(tagRecord);
  }

  // manifests

  async getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const { rows } = await this.#pool.query<{ record: ManifestRecord }>('SELECT record FROM manifests WHERE repo = $1 AND digest = $2', [
      repo,
      digest,
    ]);
    return rows[0]?.record;
  }

  putManifest(repo: string, record: ManifestRecord, tag?: string, opts?: WriteOptions): Promise<void> {
    return this.#change(repo, opts, async ({ c, items }) => {
      const old = await c.query<{ created: number }>(
        "SELECT (record->>'created')::float8 AS created FROM manifests WHERE repo = $1 AND digest = $2",
        [repo, record.digest],
      );
      const stored: ManifestRecord = { ...record, created: old.rows[0]?.created ?? record.created, updated: this.#now() };
      await c.query(
        `INSERT INTO manifests (repo, digest, subject, updated, record) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (repo, digest) DO UPDATE SET subject = EXCLUDED.subject, updated = EXCLUDED.updated, record = EXCLUDED.record`,
        [repo, stored.digest, stored.subject ?? null, stored.updated, JSON.stringify(stored)],
      );
      await c.query('INSERT INTO repositories (name) VALUES ($1) ON CONFLICT DO NOTHING', [repo]);
      if (old.rowCount === 0) items.push(manifestItem(stored.digest));
      if (tag !== undefined) {
        const held = await tagState(c, repo, tag);
        if (held.digest !== stored.digest) await pointTag(c, repo, tag, stored.digest, stored.updated as number);
        if (opts?.tagClock) await setTagClock(c, repo, tag, opts.tagClock);
        items.push(...tagItems(tag, held.digest, stored.digest, held.clock, opts?.tagClock));
      }
      return { result: undefined, changed: true };
    });
  }

  deleteManifest(repo: string, digest: Digest, opts?: WriteOptions): Promise<boolean> {
    return this.#change(repo, opts, async ({ c, items }) => {
      const gone = await c.query('DELETE FROM manifests WHERE repo = $1 AND digest = $2', [repo, digest]);
      if (gone.rowCount === 0) return { result: false, changed: false };
      items.push(manifestItem(digest));
      const untagged = await c.query<{ name: string; clock: HlcTimestamp | null }>(
        `DELETE FROM tags t WHERE repo = $1 AND digest = $2
         RETURNING name, (SELECT clock FROM tag_clocks h WHERE h.repo = t.repo AND h.tag = t.name) AS clock`,
        [repo, digest],
      );
      for (const { name, clock } of untagged.rows) items.push(...tagItems(name, digest, undefined, clock ?? undefined));
      await dropIfEmpty(c, repo);
      return { result: true, changed: true };
    });
  }

  listManifests(repo: string, after?: Digest): AsyncIterable<ManifestRecord> {
    return records(
      keyset(
        (from, limit) =>
          this.#pool.query<{ record: ManifestRecord }>(
            'SELECT record FROM manifests WHERE repo = $1 AND digest > $2 ORDER BY digest LIMIT $3',
            [repo, from ?? after ?? '', limit],
          ),
        (row) => row.record.digest,
      ),
    );
  }

  async listManifestsByTime(repo: string, page: TimePage): Promise<ManifestRecord[]> {
    return (await pageByTimeSql<{ record: ManifestRecord }>(this.#pool, 'manifests', repo, page)).map((r) => r.record);
  }

  // referrers

  async listReferrers(repo: string, subject: Digest): Promise<Descriptor[]> {
    // jsonb_strip_nulls drops the fields a manifest does not have (artifactType, annotations).
    const { rows } = await this.#pool.query<{ d: Descriptor }>(
      `SELECT jsonb_strip_nulls(jsonb_build_object('mediaType', record->'mediaType', 'digest', record->'digest', 'size', record->'size',
              'artifactType', record->'artifactType', 'annotations', record->'annotations')) AS d
       FROM manifests WHERE repo = $1 AND subject = $2 ORDER BY digest`,
      [repo, subject],
    );
    return rows.map((r) => r.d);
  }

  // blob links

  async getBlobLink(repo: string, digest: Digest): Promise<BlobLink | undefined> {
    const { rows } = await this.#pool.query<LinkRow>('SELECT digest, size, created FROM blob_links WHERE repo = $1 AND digest = $2', [
      repo,
      digest,
    ]);
    return rows[0] && blobLink(rows[0]);
  }

  linkBlob(repo: string, digest: Digest, link: BlobLink): Promise<void> {
    return this.#change(repo, undefined, async ({ c }) => {
      await c.query(
        `INSERT INTO blob_links (repo, digest, size, created) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repo, digest) DO UPDATE SET size = EXCLUDED.size, created = EXCLUDED.created`,
        [repo, digest, link.size, link.created],
      );
      await c.query('INSERT INTO repositories (name) VALUES ($1) ON CONFLICT DO NOTHING', [repo]);
      return { result: undefined, changed: true };
    });
  }

  unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    return this.#change(repo, undefined, async ({ c }) => {
      const gone = await c.query('DELETE FROM blob_links WHERE repo = $1 AND digest = $2', [repo, digest]);
      if (gone.rowCount === 0) return { result: false, changed: false };
      await dropIfEmpty(c, repo);
      return { result: true, changed: true };
    });
  }

  async *listBlobLinks(repo: string): AsyncIterable<{ digest: Digest; link: BlobLink }> {
    const rows = keyset(
      (after, limit) =>
        this.#pool.query<LinkRow>('SELECT digest, size, created FROM blob_links WHERE repo = $1 AND digest > $2 ORDER BY digest LIMIT $3', [
          repo,
          after ?? '',
          limit,
        ]),
      (row) => row.digest,
    );
    for await (const row of rows) yield { digest: row.digest, link: blobLink(row) };
  }

  // repositories

  async listRepositories(page: Page = {}): Promise<string[]> {
    checkPageSize(page.n);
    const { rows } = await this.#pool.query<{ name: string }>('SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2', [
      page.last ?? '',
      page.n ?? null,
    ]);
    return rows.map((r) => r.name);
  }

  async hasRepository(repo: string): Promise<boolean> {
    return ((await this.#pool.query('SELECT 1 FROM repositories WHERE name = $1', [repo])).rowCount ?? 0) > 0;
  }

  // upload sessions

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const { rows } = await this.#pool.query<{ session: UploadSession }>('SELECT session FROM uploads WHERE id = $1', [id]);
    return rows[0]?.session;
  }

  async putUpload(session: UploadSession): Promise<void> {
    await this.#pool.query('INSERT INTO uploads (id, session) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET session = EXCLUDED.session', [
      session.id,
      JSON.stringify(session),
    ]);
  }

  async deleteUpload(id: string): Promise<boolean> {
    return ((await this.#pool.query('DELETE FROM uploads WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async *listUploads(): AsyncIterable<UploadSession> {
    const rows = keyset(
      (after, limit) =>
        this.#pool.query<{ session: UploadSession }>('SELECT session FROM uploads WHERE id > $1 ORDER BY id LIMIT $2', [
          after ?? '',
          limit,
        ]),
      (row) => row.session.id,
    );
    for await (const row of rows) yield row.session;
  }

  // named record stores

  records<T>(name: RecordStoreName): RecordStore<T> {
    return pgRecordStore<T>(this.#pool, name, (events) => this.#outboxDepth.appended(events));
  }

  digestTree(): DigestTreeReader {
    return this.#tree;
  }

  // outbox

  async readOutbox(limit: number): Promise<OutboxEntry[]> {
    const { rows } = await this.#pool.query<{ seq: string; event: Buffer; repository_seq: string | null }>(
      'SELECT seq, event, repository_seq FROM outbox ORDER BY seq LIMIT $1',
      [limit],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      event: r.event,
      ...(r.repository_seq !== null && { repositorySeq: Number(r.repository_seq) }),
    }));
  }

  async deleteOutbox(seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    const { rowCount } = await this.#pool.query('DELETE FROM outbox WHERE seq = ANY($1::bigint[])', [seqs]);
    this.#outboxDepth.deleted(rowCount ?? 0);
  }

  /** The outbox's depth for every node sharing the database: counted at most a second ago (pg-outbox-depth.ts). */
  outboxDepth(): number {
    return this.#outboxDepth.get();
  }

  tryLease(name: LeaseName): Promise<Lease | undefined> {
    return pgLease(this.#url, name);
  }

  async close(): Promise<void> {
    await Promise.all([this.#pool.end(), this.digestLocks.close()]);
  }

  /**
   * Run a change of `repo` in one transaction under the repository's lock, with `opts.events` in
   * the outbox when it changed anything, and its digest-tree items XORed into the tree last (the
   * tree's row locks are then held only to the commit).
   */
  async #change<T>(repo: string, opts: WriteOptions | undefined, fn: (change: Change) => Promise<Changed<T>>): Promise<T> {
    const { result, events } = await transaction(this.#pool, async (c) => {
      await lockRepository(c, repo);
      const change: Change = { c, items: [] };
      const { result, changed } = await fn(change);
      const events = changed ? (opts?.events ?? []) : [];
      await appendOutbox(c, events, repo);
      await changeRepositoryHash(c, repo, change.items);
      return { result, events: events.length };
    });
    this.#outboxDepth.appended(events);
    return result;
  }
}

/** A blob_links row: bigint columns come as text. */
interface LinkRow {
  digest: Digest;
  size: string;
  created: string;
}

function blobLink(row: LinkRow): BlobLink {
  return { size: Number(row.size), created: Number(row.created) };
}

async function* records(rows: AsyncIterable<{ record: ManifestRecord }>): AsyncIterable<ManifestRecord> {
  for await (const row of rows) yield row.record;
}

/** Tags point only at manifests, so manifests and blob links keep a repository; run under its lock. */
async function dropIfEmpty(c: PoolClient, repo: string): Promise<void> {
  await c.query(
    `DELETE FROM repositories WHERE name = $1
     AND NOT EXISTS (SELECT 1 FROM manifests WHERE repo = $1) AND NOT EXISTS (SELECT 1 FROM blob_links WHERE repo = $1)`,
    [repo],
  );
}
