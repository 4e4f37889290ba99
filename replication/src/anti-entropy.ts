import { parseDigest, parseName } from 'georeg/oci';
import type { RegionStore } from './region-store.js';
import { failureReason, type Copier } from './copier.js';
import type { PeerClient } from './peer-client.js';

const PAGE = 500;

/** What one pass repaired, and what it could not (each item with its error); the pass goes on past those. */
export interface AntiEntropyPass {
  repairs: number;
  failed: { what: string; err: unknown }[];
}

/**
 * Compares this region with a peer, repository by repository, and copies what
 * events missed (events that aged out of the stream while a region was down, or
 * a region that joined late): manifests this region lacks, and tag changes and
 * deletes on the peer newer than the last change seen here. Deleted tags are
 * listed with the clock of their delete, so a delete the events missed is
 * repaired too, unless the tag changed here later. The trust policy document,
 * the users and tokens, and the locks are compared first: the newer version of each wins.
 * An item that fails (content corrupt at the peer) is reported and the pass
 * goes on, so one bad image cannot keep every other repository unrepaired; a
 * peer that cannot be reached ends the pass (it throws).
 */
export async function antiEntropy(store: RegionStore, copier: Copier, peer: PeerClient): Promise<AntiEntropyPass> {
  const pass: AntiEntropyPass = { repairs: 0, failed: [] };
  const repair = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
    try {
      if (await fn()) pass.repairs++;
    } catch (err) {
      if (failureReason(err) === 'unreachable') throw err;
      pass.failed.push({ what, err });
    }
  };
  const { document, timestamp } = await peer.getPolicy();
  if (document && timestamp) await repair('trust policy', () => store.applyPolicy(document, timestamp));
  for (const { key, record, timestamp: at } of (await peer.listIdentities()).identities) {
    if (at) await repair(`identity ${key}`, () => store.applyIdentity(key, record, at));
  }
  for (const { key, record, timestamp: at } of (await peer.listLocks()).locks) {
    if (at) await repair(`lock ${key}`, () => store.applyLock(key, record, at));
  }
  for (let after = ''; ;) {
    const page = await peer.listRepositories(after, PAGE);
    for (const name of page.names) await syncRepository(store, copier, peer, parseName(name), repair);
    const last = page.names[page.names.length - 1];
    if (!page.more || last === undefined) return pass;
    after = last;
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
