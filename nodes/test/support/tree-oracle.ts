import type { MetaStore } from '../../src/meta/store.js';
import { leafOf, leafPath, manifestItem, tagItem, TREE_RECORD_STORES, xorItems } from '../../src/meta/digest-tree.js';

/** A repository's digest-tree hash computed afresh from what the store lists: what the tree must hold for it. */
export async function expectedRepositoryHash(store: MetaStore, repo: string): Promise<Buffer | undefined> {
  const tags = new Set(await store.listTags(repo));
  for await (const { tag } of store.listTagClocks(repo)) tags.add(tag);
  const items = [];
  for (const tag of tags) items.push(tagItem(tag, await store.getTag(repo, tag), await store.getTagClock(repo, tag)));
  for await (const m of store.listManifests(repo)) items.push(manifestItem(m.digest));
  return xorItems(undefined, items);
}

/** The tree's level-1 hashes, record store hashes, and the leaves of `repos`, in hex. */
export async function treeSnapshot(store: MetaStore, repos: string[]): Promise<Record<string, unknown>> {
  const tree = store.digestTree();
  const snapshot: Record<string, unknown> = { level1: (await tree.children('')).toString('hex') };
  for (const s of TREE_RECORD_STORES) snapshot[s] = (await tree.records(s)).toString('hex');
  for (const repo of repos) {
    const path = leafPath(leafOf(repo));
    snapshot[path] = (await tree.leaf(path)).map((r) => `${r.name}=${r.hash.toString('hex')}`);
  }
  return snapshot;
}
