import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Level } from 'level';
import { digestOf } from 'georeg/oci';
import { LevelMetaStore, type LevelMetaStoreOptions } from '../../src/meta/level-store.js';
import { Lru } from '../../src/lru.js';
import { manifest, metaStoreSuite } from '../support/meta-suite.js';
import { recordStoreSuite } from '../support/record-store-suite.js';
import { digestTreeSuite } from '../support/digest-tree-suite.js';
import { MemoryMetaStore } from '../../src/meta/memory-store.js';

async function levelStore(options?: LevelMetaStoreOptions): Promise<{ store: LevelMetaStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(`${tmpdir()}/georeg-test-`);
  const store = await LevelMetaStore.open(dir, options);
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

metaStoreSuite('MemoryMetaStore', async (now) => ({ store: new MemoryMetaStore(now), cleanup: async () => {} }));
metaStoreSuite('LevelMetaStore', (now) => levelStore({ now }));
metaStoreSuite('LevelMetaStore with a one-entry cache', (now) => levelStore({ cacheSize: 1, now }));
recordStoreSuite('MemoryMetaStore', async () => ({ store: new MemoryMetaStore(), cleanup: async () => {} }));
recordStoreSuite('LevelMetaStore', () => levelStore());
digestTreeSuite('MemoryMetaStore', async (now) => ({ store: new MemoryMetaStore(now), cleanup: async () => {} }));
digestTreeSuite('LevelMetaStore', (now) => levelStore({ now }));

describe('LevelMetaStore', () => {
  let store: LevelMetaStore;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    ({ store, dir, cleanup } = await levelStore({ now: () => 1_800_000_000_000 }));
  });

  afterEach(async () => {
    await cleanup();
  });

  it('keeps tags, manifests, blob links and uploads across close and reopen', async () => {
    const m = manifest('m', { subject: digestOf('subject'), artifactType: 'application/vnd.example' });
    await store.putManifest('r', m, 'latest');
    await store.linkBlob('r', digestOf('layer'), { size: 3, created: 7 });
    await store.putUpload({ id: 'u1', repository: 'r', created: 1, updated: 2 });
    await store.close();

    store = await LevelMetaStore.open(dir, { now: () => 1_900_000_000_000 });
    assert.equal(await store.getTag('r', 'latest'), m.digest);
    assert.deepEqual(await store.tagsOf('r', m.digest), ['latest']);
    assert.deepEqual(await store.getManifest('r', m.digest), { ...m, updated: 1_800_000_000_000 });
    assert.deepEqual(await store.listReferrers('r', digestOf('subject')), [
      { mediaType: m.mediaType, digest: m.digest, size: m.size, artifactType: 'application/vnd.example' },
    ]);
    assert.deepEqual(await store.getBlobLink('r', digestOf('layer')), { size: 3, created: 7 });
    assert.deepEqual(await store.getUpload('u1'), { id: 'u1', repository: 'r', created: 1, updated: 2 });
    assert.deepEqual(await store.listRepositories(), ['r']);
  });

  it('keeps the outbox, its order and its depth across close and reopen', async () => {
    const ev = (s: string): Uint8Array => new TextEncoder().encode(s);
    await store.putManifest('r', manifest('a'), 'v1', { events: [ev('1'), ev('2')] });
    await store.deleteOutbox([(await store.readOutbox(1))[0]?.seq ?? -1]);
    await store.close();

    store = await LevelMetaStore.open(dir);
    assert.equal(store.outboxDepth(), 1);
    await store.putManifest('r', manifest('b'), 'v2', { events: [ev('3')] });
    const entries = await store.readOutbox(10);
    assert.deepEqual(
      entries.map((e) => new TextDecoder().decode(e.event)),
      ['2', '3'],
    );
    assert.ok((entries[1]?.seq ?? 0) > (entries[0]?.seq ?? 0));
  });

  it('serves no stale tag list from its cache', async () => {
    const m = manifest('m');
    await store.putManifest('r', m, 'b');
    assert.deepEqual(await store.listTags('r'), ['b']);
    await store.putTag('r', 'a', m.digest);
    await store.putTag('r-x', 'z', m.digest).catch(() => undefined); // another repository: no effect here
    assert.deepEqual(await store.listTags('r'), ['a', 'b']);
    assert.deepEqual(await store.listTags('r', { last: 'a', n: 1 }), ['b']);
    await store.deleteTag('r', 'b');
    assert.deepEqual(await store.listTags('r'), ['a']);
    await store.deleteManifest('r', m.digest);
    assert.deepEqual(await store.listTags('r'), []);
  });

  it('serves no stale tag or manifest from its cache', async () => {
    const [a, b] = [manifest('a'), manifest('b')];
    assert.equal(await store.getTag('r', 'latest'), undefined, 'caches the miss');
    assert.equal(await store.getManifest('r', a.digest), undefined, 'caches the miss');
    await store.putManifest('r', a, 'latest');
    assert.equal(await store.getTag('r', 'latest'), a.digest);
    assert.deepEqual(await store.getManifest('r', a.digest), { ...a, updated: (await store.getManifest('r', a.digest))?.updated });

    await store.putManifest('r', b);
    await store.putTag('r', 'latest', b.digest);
    assert.equal(await store.getTag('r', 'latest'), b.digest);

    await store.deleteTag('r', 'latest');
    assert.equal(await store.getTag('r', 'latest'), undefined);

    await store.putTag('r', 'latest', a.digest);
    await store.deleteManifest('r', a.digest);
    assert.equal(await store.getTag('r', 'latest'), undefined);
    assert.equal(await store.getManifest('r', a.digest), undefined);
  });

  it('does not cache a read that straddles a write', async () => {
    const [a, b] = [manifest('a'), manifest('b')];
    await store.putManifest('r', a, 'latest');
    await store.putManifest('r', b);
    await store.close();
    store = await LevelMetaStore.open(dir); // cold cache

    // Hold the reader's LevelDB get after it has read the old digest, until the write has committed.
    let release!: () => void;
    let hold: Promise<void> | undefined = new Promise((resolve) => (release = resolve));
    const get = Level.prototype.get;
    Level.prototype.get = async function (this: Level<string, unknown>, ...args: Parameters<typeof get>) {
      const held = hold;
      const value: unknown = await get.apply(this, args);
      if (held) await held;
      return value;
    } as typeof get;
    try {
      const reading = store.getTag('r', 'latest');
      hold = undefined;
      await store.putTag('r', 'latest', b.digest);
      release();
      assert.equal(await reading, a.digest, 'the read began before the write');
    } finally {
      Level.prototype.get = get;
    }
    assert.equal(await store.getTag('r', 'latest'), b.digest);
  });

  it('rejects key components containing its separator', async () => {
    await assert.rejects(store.getTag('r!x', 'latest'), RangeError);
  });
});

describe('Lru', () => {
  it('evicts the least recently used entry', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    assert.equal(lru.get('a'), 1);
    lru.set('c', 3);
    assert.equal(lru.get('b'), undefined);
    assert.equal(lru.get('a'), 1);
    assert.equal(lru.get('c'), 3);
  });

  it('bounds the total weight, dropping values heavier than the whole', () => {
    const lru = new Lru<string, Buffer>(10, (b) => b.length);
    lru.set('a', Buffer.alloc(4));
    lru.set('b', Buffer.alloc(4));
    lru.set('c', Buffer.alloc(4));
    assert.equal(lru.get('a'), undefined);
    assert.equal(lru.get('b')?.length, 4);
    lru.set('huge', Buffer.alloc(11));
    assert.equal(lru.get('huge'), undefined);
    assert.equal(lru.get('c')?.length, 4);
    lru.delete('c');
    assert.equal(lru.get('c'), undefined);
  });

  it('rejects a size below one', () => {
    assert.throws(() => new Lru(0), RangeError);
  });
});
