/**
 * The digest tree every MetaStore keeps (MetaStore.digestTree): register it beside metaStoreSuite
 * with the same factory.
 */
import assert from 'node:assert/strict';
import type { Digest } from 'georeg/oci';
import type { MetaStore, WriteOptions } from '../../src/meta/store.js';
import { HASH_BYTES, FANOUT, leafOf, leafPath, TREE_RECORD_STORES } from '../../src/meta/digest-tree.js';
import type { HlcTimestamp } from '../../src/hlc.js';
import { manifest } from './meta-suite.js';
import { expectedRepositoryHash, treeSnapshot } from './tree-oracle.js';
import type { MakeMetaStore } from './meta-suite.js';

const at = (wallMs: number, region = 'eu'): HlcTimestamp => ({ wallMs, logical: 0, region });
const clocked = (wallMs: number): WriteOptions => ({ tagClock: at(wallMs) });
const [one, two] = [manifest('one'), manifest('two')];

/** The same content reached in two orders: what a region and its peer hold once converged. */
const ORDERS: ((s: MetaStore) => Promise<void>)[] = [
  async (s) => {
    await s.putManifest('team/app', one, 'v1', clocked(1));
    await s.putManifest('team/app', two, 'v2', clocked(2));
    await s.putTag('team/app', 'v1', two.digest, clocked(3));
    await s.deleteTag('team/app', 'v2', clocked(4));
    await s.putManifest('lib', one, 'latest', clocked(5));
    await s.records('locks').put('team/app', { attributes: {}, clock: at(6) });
  },
  async (s) => {
    await s.records('locks').put('team/app', { attributes: {}, clock: at(6) });
    await s.putManifest('lib', one);
    await s.putManifest('team/app', two);
    await s.putManifest('team/app', one);
    await s.putTag('lib', 'latest', one.digest, clocked(5));
    await s.putTag('team/app', 'v1', two.digest, clocked(3));
    await s.deleteTag('team/app', 'v2', { tagClock: at(4), wins: () => true });
  },
];

export function digestTreeSuite(name: string, make: MakeMetaStore): void {
  describe(`${name}: digest tree`, () => {
    const stores: { store: MetaStore; cleanup: () => Promise<void> }[] = [];
    const fresh = async (): Promise<MetaStore> => {
      const made = await make(() => 1_800_000_000_000);
      stores.push(made);
      return made.store;
    };
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.cleanup();
    });

    it('is empty at first: every hash zero, no repository in any leaf', async () => {
      const tree = (await fresh()).digestTree();
      assert.ok((await tree.children('')).equals(Buffer.alloc(FANOUT * HASH_BYTES)));
      assert.ok((await tree.children('ab')).equals(Buffer.alloc(FANOUT * HASH_BYTES)));
      assert.deepEqual(await tree.leaf(leafPath(leafOf('team/app'))), []);
      for (const s of TREE_RECORD_STORES) assert.ok((await tree.records(s)).equals(Buffer.alloc(HASH_BYTES)));
    });

    it('is the same in two stores that reached the same content in different orders, and differs from an empty one', async () => {
      const [a, b, empty] = [await fresh(), await fresh(), await fresh()];
      await ORDERS[0]?.(a);
      await ORDERS[1]?.(b);
      assert.deepEqual(await treeSnapshot(a, ['team/app', 'lib']), await treeSnapshot(b, ['team/app', 'lib']));
      assert.notDeepEqual(await treeSnapshot(a, []), await treeSnapshot(empty, []));
    });

    it('holds, for each repository, the hash of what the store holds: tags, their clocks, deleted tags and manifests', async () => {
      const s = await fresh();
      await ORDERS[0]?.(s);
      await s.deleteManifest('team/app', two.digest);
      await s.putManifest('team/app', two, 'v3');
      for (const repo of ['team/app', 'lib']) {
        const leaf = await s.digestTree().leaf(leafPath(leafOf(repo)));
        assert.deepEqual(
          leaf.find((r) => r.name === repo)?.hash,
          await expectedRepositoryHash(s, repo),
          `${repo} in its leaf with the hash of its content`,
        );
        const node = await s.digestTree().children(leafPath(leafOf(repo)).slice(0, 2));
        const inLeaf = node.subarray((leafOf(repo) % FANOUT) * HASH_BYTES, ((leafOf(repo) % FANOUT) + 1) * HASH_BYTES);
        assert.notDeepEqual(inLeaf, Buffer.alloc(HASH_BYTES), 'its leaf is not empty in its level-1 node');
      }
    });

    it('changes its root with any change of any field of any record', async () => {
      const changes: [string, (s: MetaStore) => Promise<unknown>][] = [
        ['a tag moved', (s) => s.putTag('team/app', 'v1', one.digest, clocked(7))],
        ['a tag restamped on the same digest', (s) => s.putTag('team/app', 'v1', two.digest, clocked(7))],
        ['a tag stamped by another region at the same time', (s) => s.putTag('team/app', 'v1', two.digest, { tagClock: at(3, 'us') })],
        ['a new tag', (s) => s.putTag('team/app', 'v9', one.digest, clocked(7))],
        ['a tag deleted', (s) => s.deleteTag('team/app', 'v1', clocked(7))],
        ['a delete of a deleted tag restamped', (s) => s.deleteTag('team/app', 'v2', { tagClock: at(7), wins: () => true })],
        ['a manifest added', (s) => s.putManifest('team/app', manifest('three'))],
        ['a manifest deleted', (s) => s.deleteManifest('lib', one.digest)],
        ['a manifest in a new repository', (s) => s.putManifest('new', one)],
        ['a lock restamped', (s) => s.records('locks').put('team/app', { attributes: {}, clock: at(8) })],
        ['a user', (s) => s.records('identities').put('user:x', { clock: at(8) })],
        ['the trust policy', (s) => s.records('policies').put('document', { clock: at(8) })],
      ];
      for (const [what, change] of changes) {
        const s = await fresh();
        await ORDERS[0]?.(s);
        const before = await treeSnapshot(s, []);
        await change(s);
        assert.notDeepEqual(await treeSnapshot(s, []), before, what);
      }
    });

    it('is unchanged by what it does not summarise: blob links, uploads, local records, a repeated put, a local delete of an absent tag', async () => {
      const s = await fresh();
      await ORDERS[0]?.(s);
      const before = await treeSnapshot(s, ['team/app', 'lib']);
      await s.linkBlob('team/app', one.references[0] as Digest, { size: 1, created: 1 });
      await s.putUpload({ id: 'u1', repository: 'team/app', created: 1, updated: 1 });
      await s.records('routing').put('drained', { drained: true, clock: at(9) });
      await s.records('policies').put('seed', { sha256: 'x' });
      await s.putManifest('team/app', one);
      await s.putTag('team/app', 'v1', two.digest);
      await s.deleteTag('team/app', 'absent');
      assert.deepEqual(await treeSnapshot(s, ['team/app', 'lib']), before);
    });

    it('comes back to the empty tree when everything the tree holds goes away', async () => {
      const s = await fresh();
      await s.putManifest('gone', one, 'x', clocked(1));
      await s.deleteManifest('gone', one.digest);
      assert.ok(!(await s.digestTree().children('')).equals(Buffer.alloc(FANOUT * HASH_BYTES)), 'the clock of the tag that went stays');
      const t = await fresh();
      await t.putManifest('gone', one);
      await t.deleteManifest('gone', one.digest);
      assert.ok((await t.digestTree().children('')).equals(Buffer.alloc(FANOUT * HASH_BYTES)));
      assert.deepEqual(await t.digestTree().leaf(leafPath(leafOf('gone'))), []);
    });

    it('refuses paths that are not two or four lowercase hex digits', async () => {
      const tree = (await fresh()).digestTree();
      for (const bad of ['a', 'ABC', '0g', '123', '../x']) await assert.rejects(tree.children(bad), RangeError, bad);
      for (const bad of ['', 'ab', '12345', 'zzzz']) await assert.rejects(tree.leaf(bad), RangeError, bad);
    });
  });
}
