import { parseDigest, parseName } from 'georeg/nodes';
import type { RegionStore } from './region-store.js';
import type { Copier } from './copier.js';
import type { PeerClient } from './peer-client.js';

const PAGE = 500;

/**
 * Compares this region with a peer, repository by repository, and copies what
 * events missed (events that aged out of the stream while a region was down, or
 * a region that joined late): manifests this region lacks, and tag changes and
 * deletes on the peer newer than the last change seen here. Returns the number
 * of repairs. Deleted tags are listed with the clock of their delete, so a
 * delete the events missed is repaired too, unless the tag changed here later.
 * The trust policy document and the users and tokens are compared first: the
 * newer version of each wins.
 */
export async function antiEntropy(store: RegionStore, copier: Copier, peer: PeerClient): Promise<number> {
  const policy = await peer.getPolicy();
  let repairs = policy.document && policy.timestamp && (await store.applyPolicy(policy.document, policy.timestamp)) ? 1 : 0;
  for (const i of (await peer.listIdentities()).identities) {
    if (i.timestamp && (await store.applyIdentity(i.key, i.record, i.timestamp))) repairs++;
  }
  for (let after = ''; ; ) {
    const page = await peer.listRepositories(after, PAGE);
    for (const name of page.names) repairs += await syncRepository(store, copier, peer, parseName(name));
    const last = page.names[page.names.length - 1];
    if (!page.more || last === undefined) return repairs;
    after = last;
  }
}

async function syncRepository(store: RegionStore, copier: Copier, peer: PeerClient, repo: string): Promise<number> {
  let repairs = 0;
  for (let after = ''; ; ) {
    const page = await peer.listRepository(repo, after, PAGE);
    for (const d of page.manifests) {
      const digest = parseDigest(d);
      if (await store.hasManifest(repo, digest)) continue;
      await copier.ensureManifest(repo, digest, peer);
      repairs++;
    }
    for (const t of page.tags) {
      if (await copier.applyTag(repo, t.tag, parseDigest(t.digest), t.timestamp, peer)) repairs++;
    }
    for (const t of page.deleted) {
      if (t.timestamp && (await copier.applyTagDelete(repo, t.tag, t.timestamp))) repairs++;
    }
    const last = page.tags[page.tags.length - 1];
    if (!page.more || last === undefined) return repairs;
    after = last.tag;
  }
}
