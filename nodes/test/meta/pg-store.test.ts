import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, poll, type TestDatabase } from 'georeg/test-support';
import { PgMetaStore } from '../../src/meta/pg-store.js';
import { SCHEMA_VERSION } from '../../src/meta/pg-schema.js';
import { LOCK_CLASS } from '../../src/meta/pg-transaction.js';
import { MemoryMetaStore } from '../../src/meta/memory-store.js';
import { StaleTagChange, type MetaStore, type WriteOptions } from '../../src/meta/store.js';
import { manifest, metaStoreSuite } from '../support/meta-suite.js';
import { recordStoreSuite } from '../support/record-store-suite.js';
import { digestTreeSuite } from '../support/digest-tree-suite.js';
import { treeSnapshot } from '../support/tree-oracle.js';

/** One database for the file; each store in a schema of its own (a database each is slower to make). */
let db: TestDatabase;

async function pgStore(now?: () => number): Promise<{ store: PgMetaStore; cleanup: () => Promise<void> }> {
  const store = await PgMetaStore.open(await db.schema(), { now });
  return { store, cleanup: () => store.close() };
}

const ifNewer = (wallMs: number, region = 'eu'): WriteOptions => ({
  tagClock: { wallMs, logical: 0, region },
  wins: (held) => held === undefined || held.wallMs < wallMs,
});

/** Rows of one query on a connection of its own. */
async function query<R extends object>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('PgMetaStore', function () {
  this.timeout(20_000);
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  metaStoreSuite('PgMetaStore', (now) => pgStore(now));
  recordStoreSuite('PgMetaStore', () => pgStore());
  digestTreeSuite('PgMetaStore', (now) => pgStore(now));

  describe('schema migrations', () => {
    const versions = async (url: string): Promise<number[]> =>
      (await query<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version);
    const all = Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1);

    it('are applied once at start and recorded by version; an open of an up-to-date database changes nothing', async () => {
      const url = await db.schema();
      const first = await PgMetaStore.open(url);
      await first.putManifest('r', manifest('m'), 'v1');
      await first.close();
      const second = await PgMetaStore.open(url);
      assert.equal(await second.getTag('r', 'v1'), manifest('m').digest, 'what was written stays');
      await second.close();
      assert.deepEqual(await versions(url), all);
    });

    it('are applied once when two nodes start at once', async () => {
      const url = await db.schema();
      const stores = await Promise.all([PgMetaStore.open(url), PgMetaStore.open(url), PgMetaStore.open(url)]);
      await Promise.all(stores.map((s) => s.close()));
      assert.deepEqual(await versions(url), all);
    });

    it("bring schema 1's outbox up to numbered events: its entries stay, unnumbered, and later ones are numbered", async () => {
      const url = await db.schema();
      await (await PgMetaStore.open(url)).close();
      await query(
        url,
        `ALTER TABLE outbox DROP COLUMN repository_seq; DROP TABLE repository_events;
         DROP INDEX blob_links_by_digest, manifests_by_digest, manifests_by_reference; DELETE FROM schema_migrations WHERE version > 1`,
      );
      await query(url, 'INSERT INTO outbox (event) VALUES ($1)', [Buffer.from('earlier event')]);
      const store = await PgMetaStore.open(url);
      try {
        await store.putManifest('r', manifest('m'), 'v1', { events: [new TextEncoder().encode('numbered')] });
        const entries = (await store.readOutbox(10)).map((e) => [Buffer.from(e.event).toString(), e.repositorySeq]);
        assert.deepEqual(entries, [
          ['earlier event', undefined],
          ['numbered', 1],
        ]);
      } finally {
        await store.close();
      }
      assert.deepEqual(await versions(url), all);
    });

    it('refuse a database of a schema newer than this release knows, leaving it unchanged', async () => {
      const url = await db.schema();
      await (await PgMetaStore.open(url)).close();
      await query(url, 'INSERT INTO schema_migrations (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
      await assert.rejects(PgMetaStore.open(url), /newer than this release's/);
      assert.deepEqual(await versions(url), [...all, SCHEMA_VERSION + 1]);
    });
  });

  describe('two nodes on one database', () => {
    let a: PgMetaStore;
    let b: PgMetaStore;
    const [one, two] = [manifest('one'), manifest('two')];

    let url: string;

    beforeEach(async () => {
      url = await db.schema();
      [a, b] = [await PgMetaStore.open(url), await PgMetaStore.open(url)];
    });
    afterEach(async () => {
      await a.close();
      await b.close();
    });

    it("hold the digests of more writers at once than a pool has connections; a GC's removal leaves each held one, and takes it once let go", async () => {
      const small = await PgMetaStore.open(url, { poolSize: 1 });
      try {
        const digests = Array.from({ length: 12 }, (_, i) => manifest(`held ${i}`).digest);
        const releases = await Promise.all(digests.map((d, i) => small.digestLocks.share(i % 2 ? [d, digests[0] as typeof d] : [d])));
        for (const d of digests) assert.equal(await b.digestLocks.remove(d, async () => 'removed'), undefined, `${d} is held`);
        await Promise.all(releases.map((release) => release()));
        for (const d of digests) assert.equal(await b.digestLocks.remove(d, async () => 'removed'), 'removed', `${d} is let go`);
        // A writer asking for a digest a removal holds tries again until the removal is done, then holds it.
        const digest = digests[1] as (typeof digests)[number];
        let held: Promise<() => Promise<void>> | undefined;
        await b.digestLocks.remove(digest, async () => {
          held = small.digestLocks.share([digest]);
          await new Promise((resolve) => setImmediate(resolve));
        });
        await (
          await (held as Promise<() => Promise<void>>)
        )();
        assert.equal(await b.digestLocks.remove(digest, async () => 'removed'), 'removed', 'let go again');
      } finally {
        await small.close();
      }
    });

    it('hold each lease on one node at a time; when its holder goes, another node takes it', async () => {
      const outbox = await a.tryLease('outbox');
      assert.ok(outbox?.held);
      assert.equal(await b.tryLease('outbox'), undefined, 'held by a');
      const gc = await b.tryLease('gc');
      assert.ok(gc?.held, 'another lease is apart');
      await outbox.release();
      assert.equal(outbox.held, false);
      const taken = await b.tryLease('outbox');
      assert.ok(taken?.held, 'free once released');
      const c = await PgMetaStore.open(url);
      try {
        assert.equal(await c.tryLease('outbox'), undefined);
        // The holder's node dies: its lease's connection goes, and the server lets the lock go with it.
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = 0 AND pid <> pg_backend_pid()",
          [LOCK_CLASS.lease],
        );
        await admin.end();
        await taken.gone;
        assert.equal(taken.held, false, 'the holder knows it lost it');
        assert.ok((await c.tryLease('outbox'))?.held, 'and another node takes it');
      } finally {
        await gc.release();
        await c.close();
        b = await PgMetaStore.open(url);
      }
    });

    it('share upload sessions: one node continues and finishes an upload the other began', async () => {
      await a.putUpload({ id: 'u1', repository: 'team/app', created: 1, updated: 1 });
      const session = await b.getUpload('u1');
      assert.deepEqual(session, { id: 'u1', repository: 'team/app', created: 1, updated: 1 });
      await b.putUpload({ ...session, updated: 2 });
      assert.equal((await a.getUpload('u1'))?.updated, 2);
      assert.equal(await b.deleteUpload('u1'), true);
      assert.equal(await a.getUpload('u1'), undefined);
      assert.equal(await a.deleteUpload('u1'), false);
    });

    it('land the newer of concurrent conditional changes of one tag, refusing the older with StaleTagChange', async () => {
      await a.putManifest('r', one);
      await a.putManifest('r', two);
      for (let round = 0; round < 5; round++) {
        const tag = `t${round}`;
        const [older, newer] = round % 2 ? [a, b] : [b, a];
        const results = await Promise.allSettled([
          older.putTag('r', tag, one.digest, ifNewer(10)),
          newer.putTag('r', tag, two.digest, ifNewer(20, 'us')),
          older.deleteTag('r', tag, ifNewer(15)),
        ]);
        assert.equal(results[1]?.status, 'fulfilled', 'the newest change never loses');
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof StaleTagChange, String(r.reason));
        for (const s of [a, b]) {
          assert.equal(await s.getTag('r', tag), two.digest);
          assert.deepEqual(await s.getTagClock('r', tag), { wallMs: 20, logical: 0, region: 'us' });
        }
      }
      await assert.rejects(b.putTag('r', 't0', one.digest, ifNewer(19)), StaleTagChange, 'once the newer landed, the older is refused');
    });

    it('share the outbox: events one writes, the other reads and deletes; both report its depth', async () => {
      const ev = (s: string): Uint8Array => new TextEncoder().encode(s);
      const depths = (n: number) =>
        poll(5000, `both depths ${n}`, async () => (a.outboxDepth() === n && b.outboxDepth() === n) || undefined);
      await a.putManifest('r', one, 'v1', { events: [ev('a1'), ev('a2')] });
      await a.putTag('r', 'v2', one.digest, { events: [ev('a3')] });
      assert.equal(a.outboxDepth(), 3, 'what a node appends shows in its depth at once');
      await depths(3);
      const read = await b.readOutbox(2);
      assert.deepEqual(
        read.map((e) => new TextDecoder().decode(e.event)),
        ['a1', 'a2'],
      );
      await b.deleteOutbox(read.map((e) => e.seq));
      assert.equal(b.outboxDepth(), 1, 'what a node deletes shows in its depth at once');
      await depths(1);
      await b.deleteOutbox((await b.readOutbox(10)).map((e) => e.seq));
      await depths(0);
    });

    it("read one digest tree: a change by one shows in the other's tree, equal to that of a store holding the same", async () => {
      const before = await treeSnapshot(b, ['team/app']);
      await a.putManifest('team/app', one, 'v1', { tagClock: { wallMs: 1, logical: 0, region: 'eu' } });
      await a.records('locks').put('team/app', { clock: { wallMs: 2, logical: 0, region: 'eu' } });
      const after = await treeSnapshot(b, ['team/app']);
      assert.notDeepEqual(after, before);
      assert.deepEqual(after, await treeSnapshot(a, ['team/app']));
      const memory: MetaStore = new MemoryMetaStore();
      await memory.putManifest('team/app', one, 'v1', { tagClock: { wallMs: 1, logical: 0, region: 'eu' } });
      await memory.records('locks').put('team/app', { clock: { wallMs: 2, logical: 0, region: 'eu' } });
      assert.deepEqual(after, await treeSnapshot(memory, ['team/app']));
    });

    it('keep the digest tree exact under concurrent changes of repositories from both nodes', async () => {
      const repos = Array.from({ length: 12 }, (_, i) => `repo-${i}`);
      await Promise.all(
        repos.flatMap((repo, i) => [
          (i % 2 ? a : b).putManifest(repo, one, 'v1', { tagClock: { wallMs: i, logical: 0, region: 'eu' } }),
          (i % 2 ? b : a).putManifest(repo, two, 'v2'),
        ]),
      );
      const memory: MetaStore = new MemoryMetaStore();
      for (const [i, repo] of repos.entries()) {
        await memory.putManifest(repo, one, 'v1', { tagClock: { wallMs: i, logical: 0, region: 'eu' } });
        await memory.putManifest(repo, two, 'v2');
      }
      assert.deepEqual(await treeSnapshot(a, repos), await treeSnapshot(memory, repos));
    });
  });
});
