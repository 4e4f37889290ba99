import { parseDigest, parseName } from 'georeg/oci';
import type { RegionStore } from './region-store.js';
import { failureReason, type Copier } from './copier.js';
import type { PeerClient } from './peer-client.js';
import { FANOUT, HASH_BYTES, type TreeRecordStore } from 'georeg/nodes';
import { MAX_TREE_LEAVES, MAX_TREE_NODES } from './tree-answers.js';

const PAGE = 500;

/** What one pass repaired, and what it could not (each item with its error); the pass goes on past those. */
export interface AntiEntropyPass {
  repairs: number;
  failed: { what: string; err: unknown }[];
  /** Repositories listed at the peer: those whose hashes differ (every one, with a peer of a release before the digest tree). */
  compared: number;
  /** Whether the pass compared digest trees first (false: the peer has none). */
  tree: boolean;
}

/**
 * Compares this region with a peer and copies what events missed (events that aged out of the
 * stream while a region was down, or a region that joined late): manifests this region lacks,
 * and tag changes and deletes on the peer newer than the last change seen here. Deleted tags are
 * listed with the clock of their delete, so a delete the events missed is repaired too, unless
 * the tag changed here later. The trust policy document, the users and tokens, and the locks:
 * the newer version of each wins.
 *
 * Both regions keep a digest tree (nodes/src/meta/digest-tree.ts), so the pass compares hashes
 * top down and lists only what differs: the record stores' hashes and the root's 256 children in
 * one call (a pass that finds nothing different ends there), then the level-1 nodes that differ
 * (64 a call), then the leaves that differ (1,024 a call), then each repository whose hash
 * differs. A peer of a release before the tree answers UNIMPLEMENTED: then everything is listed.
 *
 * An item that fails (content corrupt at the peer) is reported and the pass goes on, so one bad
 * image cannot keep every other repository unrepaired; a peer that cannot be reached ends the
 * pass (it throws).
 */
export async function antiEntropy(store: RegionStore, copier: Copier, peer: PeerClient): Promise<AntiEntropyPass> {
  const pass: AntiEntropyPass = { repairs: 0, failed: [], compared: 0, tree: false };
  const repair = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
    try {
      if (await fn()) pass.repairs++;
    } catch (err) {
      if (failureReason(err) === 'unreachable') throw err;
      pass.failed.push({ what, err });
    }
  };
  const sync = async (name: string): Promise<void> => {
    pass.compared++;
    await syncRepository(store, copier, peer, parseName(name), repair);
  };
  const [theirs, ours] = await Promise.all([peer.treeNodes(['']), store.treeNodes([''])]);
  if (!theirs || !ours) {
    await syncRecords(store, peer, repair, { policies: true, identities: true, locks: true });
    for await (const name of allRepositories(peer)) await sync(name);
    return pass;
  }
  pass.tree = true;
  await syncRecords(store, peer, repair, {
    policies: !theirs.policies.equals(ours.policies),
    identities: !theirs.identities.equals(ours.identities),
    locks: !theirs.locks.equals(ours.locks),
  });
  const level1 = differing(theirs.nodes[0]?.children, ours.nodes[0]?.children, '');
  const leaves: string[] = [];
  for (const paths of chunks(level1, MAX_TREE_NODES)) {
    const [t, o] = await Promise.all([peer.treeNodes(paths), store.treeNodes(paths)]);
    paths.forEach((path, i) => leaves.push(...differing(t?.nodes[i]?.children, o?.nodes[i]?.children, path)));
  }
  for (const paths of chunks(leaves, MAX_TREE_LEAVES)) {
    const [t, o] = await Promise.all([peer.treeLeaves(paths), store.treeLeaves(paths)]);
    const held = new Map(o.repositories.map((r) => [r.name, r.hash]));
    for (const r of t.repositories) if (!held.get(r.name)?.equals(r.hash)) await sync(r.name);
  }
  return pass;
}

/** The paths of the children of `path` whose hashes differ between two answers of 256 hashes. */
function differing(theirs: Buffer | undefined, ours: Buffer | undefined, path: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < FANOUT; i++) {
    const at = i * HASH_BYTES;
    if (!theirs || !ours || theirs.compare(ours, at, at + HASH_BYTES, at, at + HASH_BYTES) !== 0) {
      out.push(path + i.toString(16).padStart(2, '0'));
    }
  }
  return out;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Every repository name the peer lists, page by page. */
async function* allRepositories(peer: PeerClient): AsyncIterable<string> {
  for (let after = ''; ;) {
    const page = await peer.listRepositories(after, PAGE);
    yield* page.names;
    const last = page.names[page.names.length - 1];
    if (!page.more || last === undefined) return;
    after = last;
  }
}

/** The replicated records of the stores named, the newer version of each winning. */
async function syncRecords(store: RegionStore, peer: PeerClient, repair: Repair, which: Record<TreeRecordStore, boolean>): Promise<void> {
  if (which.policies) {
    const { document, timestamp } = await peer.getPolicy();
    if (document && timestamp) await repair('trust policy', () => store.applyPolicy(document, timestamp));
  }
  if (which.identities) {
    for (const { key, record, timestamp: at } of (await peer.listIdentities()).identities) {
      if (at) await repair(`identity ${key}`, () => store.applyIdentity(key, record, at));
    }
  }
  if (which.locks) {
    for (const { key, record, timestamp: at } of (await peer.listLocks()).locks) {
      if (at) await repair(`lock ${key}`, () => store.applyLock(key, record, at));
    }
  }
}

type Repair = (what: string, fn: () => Promise<boolean>) => Promise<void>;

async function syncRepository(store: RegionStore, copier: Copier, peer: PeerClient, repo: string, repair: Repair): Promise<void> {
  for (let after = ''; ;) {
    const page = await peer.listRepository(repo, after, PAGE);
    for (const d of page.manifests) {
      const digest = parseDigest(d);
      if (await store.hasManifest(repo, digest)) continue;
      await repair(`${repo}@${digest}`, async () => (await copier.ensureManifest(repo, digest, peer), true));
    }
    for (const t of page.tags) {
      await repair(`${repo}:${t.tag}`, () => copier.applyTag(repo, t.tag, parseDigest(t.digest), t.timestamp, peer));
    }
    for (const { tag, timestamp: at } of page.deleted) {
      if (at) await repair(`${repo}:${tag} (deleted)`, () => copier.applyTagDelete(repo, tag, at));
    }
    const last = page.tags[page.tags.length - 1];
    if (!page.more || last === undefined) return;
    after = last.tag;
  }
}
