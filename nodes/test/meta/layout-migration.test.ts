import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { manifest } from '../support/meta-suite.js';
import { expectedRepositoryHash, treeSnapshot } from '../support/tree-oracle.js';
import { leafOf, leafPath } from '../../src/meta/digest-tree.js';

const [a, b] = [manifest('a', { created: 1_700_000_000_000 }), manifest('b', { created: 1_700_000_500_000 })];
const clock = { wallMs: 1_700_000_900_000, logical: 0, region: 'eu' };

/** What the previous release (layout 1) held: tags, manifests, a tag clock; no tag times, no time indexes, no version. */
const PREVIOUS: [string, unknown][] = [
  ['r!team/app', true],
  ['m!team/app!' + a.digest, a],
  ['m!team/app!' + b.digest, b],
  ['t!team/app!v1', a.digest],
  ['d!team/app!' + a.digest + '!v1', true],
  ['h!team/app!v1', clock],
  ['t!team/app!v2', b.digest],
  ['d!team/app!' + b.digest + '!v2', true],
];

describe('LevelMetaStore: a data directory of layout 1 (tag times, time order, digest tree)', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-time-index-'));
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.batch(PREVIOUS.map(([key, value]) => ({ type: 'put' as const, key, value })));
    await db.close();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('builds tag times (from each tag clock, else the time of opening) and both time orders at open, once', async () => {
    const opened = Date.now();
    let store = await LevelMetaStore.open(dir);
    let v2Created: number | undefined;
    try {
      assert.deepEqual(await store.getTagRecord('team/app', 'v1'), {
        name: 'v1',
        digest: a.digest,
        created: clock.wallMs,
        updated: clock.wallMs,
      });
      const v2 = await store.getTagRecord('team/app', 'v2');
      assert.ok(v2 && v2.updated >= opened && v2.created === v2.updated, 'a tag without a clock is dated at the opening');
      v2Created = v2.created;
      const tags = await store.listTagsByTime('team/app', { order: 'asc', n: 10 });
      assert.deepEqual(
        tags.map((t) => t.name),
        ['v1', 'v2'],
      );
      const manifests = await store.listManifestsByTime('team/app', { order: 'desc', n: 10 });
      assert.deepEqual(
        manifests.map((m) => m.digest),
        [b.digest, a.digest],
        'manifests by their created time',
      );
    } finally {
      await store.close();
    }
    store = await LevelMetaStore.open(dir, { now: () => 1_800_000_000_000 });
    try {
      assert.equal((await store.getTagRecord('team/app', 'v2'))?.created, v2Created, 'not built again at the next open');
      await store.putTag('team/app', 'v1', b.digest);
      assert.deepEqual(
        (await store.listTagsByTime('team/app', { order: 'desc', n: 1 })).map((t) => t.name),
        ['v1'],
        'the migrated entry moves with the tag',
      );
      assert.equal((await store.listTagsByTime('team/app', { order: 'asc', n: 10 })).length, 2, 'and leaves no stale entry behind');
    } finally {
      await store.close();
    }
  });

  it('builds the digest tree from the tags, their clocks and the manifests', async () => {
    const store = await LevelMetaStore.open(dir);
    try {
      const leaf = await store.digestTree().leaf(leafPath(leafOf('team/app')));
      assert.deepEqual(leaf, [{ name: 'team/app', hash: await expectedRepositoryHash(store, 'team/app') }]);
    } finally {
      await store.close();
    }
  });

  it('refuses, unchanged, a layout newer than this release knows', async () => {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.put('v!schema', 99);
    await db.close();
    await assert.rejects(LevelMetaStore.open(dir), /layout 99, newer than this release's 4: open it with the georeg release that wrote it/);
    const again = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    assert.equal(await again.get('g!team/app!v1'), undefined);
    await again.close();
  });
});

describe('LevelMetaStore: a data directory of layout 2 (the previous release: no digest tree)', () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('builds the same digest tree at open that the changes built, and keeps it across reopening', async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-digest-tree-'));
    let store = await LevelMetaStore.open(dir);
    await store.putManifest('team/app', a, 'v1', { tagClock: clock });
    await store.putManifest('team/app', b, 'v2');
    await store.deleteTag('team/app', 'v2', { tagClock: { ...clock, logical: 1 } });
    await store.putManifest('lib', b, 'latest', { tagClock: { ...clock, logical: 2 } });
    await store.records('locks').put('lib', { attributes: {}, clock });
    const built = await treeSnapshot(store, ['team/app', 'lib']);
    await store.close();

    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    const hashes = await db.keys({ gte: 'z!', lt: 'z"' }).all();
    assert.equal(hashes.length, 2, 'one hash per repository');
    await db.batch([...hashes.map((key) => ({ type: 'del' as const, key })), { type: 'put', key: 'v!schema', value: 2 }]);
    await db.close();

    for (let open = 0; open < 2; open++) {
      store = await LevelMetaStore.open(dir);
      try {
        assert.deepEqual(await treeSnapshot(store, ['team/app', 'lib']), built, open ? 'reopened' : 'migrated');
      } finally {
        await store.close();
      }
    }
  });
});

describe("LevelMetaStore: the previous release's outbox (no repository numbering)", () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads its entries unnumbered, numbers what is written after, and keeps the numbering across reopening', async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-outbox-'));
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.batch([
      ...PREVIOUS.map(([key, value]) => ({ type: 'put' as const, key, value })),
      { type: 'put', key: 'o!0000000000000007', value: Buffer.from('earlier event').toString('base64') },
    ]);
    await db.close();
    const layout = async (): Promise<unknown> => {
      const raw = new Level<string, unknown>(dir, { valueEncoding: 'json' });
      try {
        return await raw.get('v!schema');
      } finally {
        await raw.close();
      }
    };
    const ev = (s: string): Uint8Array => new TextEncoder().encode(s);
    let store = await LevelMetaStore.open(dir);
    await store.putTag('team/app', 'v3', a.digest, { events: [ev('first numbered')] });
    await store.close();
    store = await LevelMetaStore.open(dir);
    try {
      await store.putTag('team/app', 'v4', a.digest, { events: [ev('second numbered')] });
      const entries = (await store.readOutbox(10)).map((e) => [e.seq, Buffer.from(e.event).toString(), e.repositorySeq]);
      assert.deepEqual(entries, [
        [7, 'earlier event', undefined],
        [8, 'first numbered', 1],
        [9, 'second numbered', 2],
      ]);
    } finally {
      await store.close();
    }
    assert.equal(await layout(), 4, 'layout 4: a release of layout 3, which cannot read its outbox values, refuses it');
  });
});
