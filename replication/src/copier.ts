import { Action, type Event } from 'georeg/proto';
import { compareHlc, parseDigest, parseName, parseManifest, type Digest, type HlcTimestamp, type HybridClock, type Registry } from 'georeg/nodes';
import type { PeerClient } from './peer-client.js';

/** Blobs of one manifest copied at the same time. */
const BLOBS_AT_ONCE = 4;

/** Run `fn` over `items`, at most `limit` at a time; rejects with the first failure once all settled. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  const results = await Promise.allSettled(lanes);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Applies one peer event to this region: fetches only what is missing, in the
 * order blobs → child manifests → manifest → referrers → tag, each blob staged, verified and
 * committed before anything refers to it. Applying an event twice changes
 * nothing. Tag changes win by hybrid logical clock (region id breaks ties), so
 * every region settles on the same tag whatever order events arrive in.
 */
export class Copier {
  constructor(
    private readonly registry: Registry,
    private readonly clock: HybridClock,
  ) {}

  async apply(event: Event, peer: PeerClient): Promise<void> {
    if (event.timestamp) this.clock.observe(event.timestamp);
    if (event.action === Action.POLICY_PUT) {
      // A policy change without a clock cannot be ordered: it is dropped rather than retried forever.
      if (event.timestamp) await this.registry.policies.applyReplicated(event.policy, event.timestamp);
      return;
    }
    if (event.action === Action.IDENTITY_PUT) {
      if (event.timestamp) await this.registry.identities.applyReplicated(event.identityKey, event.identity, event.timestamp);
      return;
    }
    const repo = parseName(event.repository);
    const conflict = (): void => {
      peer.conflicts++;
    };
    switch (event.action) {
      case Action.MANIFEST_PUT:
        return this.ensureManifest(repo, parseDigest(event.digest), peer);
      case Action.TAG_PUT:
        await this.applyTag(repo, event.tag, parseDigest(event.digest), event.timestamp, peer, conflict);
        return;
      case Action.TAG_DELETE:
        await this.applyTagDelete(repo, event.tag, event.timestamp, conflict);
        return;
      case Action.MANIFEST_DELETE:
        await this.registry.manifests.deleteManifest(repo, parseDigest(event.digest), true);
        return;
      default:
        throw new Error(`unknown event action ${String(event.action)}`);
    }
  }

  /**
   * Point `tag` at `digest` (copying the manifest first) when that change is
   * newer than the last one this region saw for the tag. Returns whether the
   * tag changed here.
   */
  async applyTag(repo: string, tag: string, digest: Digest, at: HlcTimestamp | undefined, peer: PeerClient, onConflict?: () => void): Promise<boolean> {
    if (!(await this.newer(repo, tag, at, onConflict))) return false;
    if ((await this.registry.meta.getTag(repo, tag)) === digest) return false;
    await this.ensureManifest(repo, digest, peer, true);
    await this.registry.meta.putTag(repo, tag, digest, { tagClock: at });
    return true;
  }

  /** Delete `tag` when the delete stamped `at` is newer than the last change seen here; returns whether it went. */
  async applyTagDelete(repo: string, tag: string, at: HlcTimestamp | undefined, onConflict?: () => void): Promise<boolean> {
    if (!(await this.newer(repo, tag, at, onConflict))) return false;
    return this.registry.meta.deleteTag(repo, tag, { tagClock: at });
  }

  /** Whether a tag change stamped `at` is newer than the last one this region applied to that tag; an older one is a conflict lost. */
  private async newer(repo: string, tag: string, at: HlcTimestamp | undefined, onConflict?: () => void): Promise<boolean> {
    const local = await this.registry.meta.getTagClock(repo, tag);
    const order = !local || !at ? 1 : compareHlc(at, local);
    if (order < 0) onConflict?.();
    return order > 0;
  }

  /**
   * Make `digest` a manifest of `repo` here, copying whatever it depends on
   * first; `withReferrers` (before a tag points at it) also copies the
   * manifests that refer to it on the peer, so a tag never arrives before the
   * signatures that let a trust policy serve it.
   */
  async ensureManifest(repo: string, digest: Digest, peer: PeerClient, withReferrers = false): Promise<void> {
    const here = await this.registry.meta.getManifest(repo, digest);
    if (here && !withReferrers) return;
    const m = await peer.getManifest(repo, digest, withReferrers);
    if (!here) {
      const body = Buffer.from(m.content);
      const parsed = parseManifest(body, m.mediaType);
      await inParallel(parsed.blobs, BLOBS_AT_ONCE, (blob) => this.ensureBlob(repo, blob.digest, peer));
      for (const child of parsed.children) await this.ensureManifest(repo, child.digest, peer);
      await this.registry.manifests.put(repo, { digest, tag: undefined }, body, m.mediaType, {});
    }
    if (withReferrers) for (const r of m.referrers) await this.ensureManifest(repo, parseDigest(r), peer);
  }

  /** Link `digest` into `repo`: from local content when any repository here has it, else from the peer. */
  async ensureBlob(repo: string, digest: Digest, peer: PeerClient): Promise<void> {
    if (await this.registry.meta.getBlobLink(repo, digest)) return;
    if (await this.registry.blobs.adopt(repo, digest)) return;
    if (await this.registry.uploads.ingest(repo, digest, (offset) => peer.readBlob(repo, digest, offset))) peer.blobsCopied++;
  }
}
