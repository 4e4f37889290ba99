import type { DigestTreeReader } from 'georeg/nodes';
import type { TreeLeaves, TreeNodes } from 'georeg/proto';

/** Nodes one GetTreeNodes call may ask for: 64 × 256 hashes of 32 bytes, 512 KiB. */
export const MAX_TREE_NODES = 64;
/** Leaves one GetTreeLeaves call may ask for (a leaf holds about N / 65,536 repositories). */
export const MAX_TREE_LEAVES = 1024;

function bounded(paths: string[], max: number, what: string): string[] {
  if (paths.length > max) throw new RangeError(`at most ${max} ${what} per call, got ${paths.length}`);
  return paths;
}

/** What GetTreeNodes answers: each node's children's hashes, and the record stores' hashes. */
export async function treeNodes(tree: DigestTreeReader, paths: string[]): Promise<TreeNodes> {
  const nodes = await Promise.all(
    bounded(paths, MAX_TREE_NODES, 'digest tree nodes').map(async (path) => ({ path, children: await tree.children(path) })),
  );
  const [policies, identities, locks] = await Promise.all([tree.records('policies'), tree.records('identities'), tree.records('locks')]);
  return { nodes, policies, identities, locks };
}

/** What GetTreeLeaves answers: the leaves' repositories with their hashes, leaf by leaf. */
export async function treeLeaves(tree: DigestTreeReader, paths: string[]): Promise<TreeLeaves> {
  const leaves = await Promise.all(bounded(paths, MAX_TREE_LEAVES, 'digest tree leaves').map((path) => tree.leaf(path)));
  return { repositories: leaves.flat() };
}
