import { status as grpcStatus } from '@grpc/grpc-js';
import { Action, type Event } from 'georeg/proto';
import { compareHlc, parseDigest, parseName, parseManifest, parseTag, type Digest, type HlcTimestamp } from 'georeg/nodes';
import type { RegionStore, TagState } from './region-store.js';
import type { PeerClient } from './peer-client.js';

/**
 * The manifest an event names is no longer at its source: deleted there since
 * the event (or its tag moved on), which a later event of the same repository
 * says. Waiting cannot bring it back; the replicator acknowledges and skips.
 */
export class GoneAtSource extends Error {
  override name = 'GoneAtSource';
}

const notFound = (err: unknown): boolean => (err as { code?: unknown }).code === grpcStatus.NOT_FOUND;

/**
 * `withReferrers`: also copy the manifests that refer to it. `named`: the event
 * names this manifest, so its absence at the source makes the event stale (GoneAtSource).
 */
interface EnsureOptions {
  withReferrers?: boolean;
  named?: boolean;
}

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
  constructor(private readonly store: RegionStore) {}

  async apply(event: Event, peer: PeerClient): Promise<void> {
    if (event.timestamp) await this.store.observe(event.timestamp);
    if (event.action === Action.POLICY_PUT) {
      // A policy change without a clock cannot be ordered: it is dropped rather than retried forever.
      if (event.timestamp) await this.store.applyPolicy(event.policy, event.timestamp);
      return;
    }
    if (event.action === Action.IDENTITY_PUT) {
      if (event.timestamp) await this.store.applyIdentity(event.identityKey, event.identity, event.timestamp);
      return;
    }
    const repo = parseName(event.repository);
    const conflict = (): void => {
      peer.conflicts++;
    };
    switch (event.action) {
      case Action.MANIFEST_PUT:
        return this.ensureManifest(repo, parseDigest(event.digest), peer, { named: true });
      case Action.TAG_PUT:
        await this.applyTag(repo, event.tag, parseDigest(event.digest), event.timestamp, peer, conflict);
        return;
      case Action.TAG_DELETE:
        await this.applyTagDelete(repo, event.tag, event.timestamp, conflict);
        return;
      case Action.MANIFEST_DELETE:
        await this.applyManifestDelete(repo, parseDigest(event.digest), peer);
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
    const here = await this.store.tag(repo, parseTag(tag));
    if (!this.newer(here, at, onConflict)) return false;
    if (here.digest === digest) {
      // The same image tagged again, later: keep the newer stamp, or an older change seen after it
      // (a delete from a third region) would win here and lose everywhere else.
      if (at) await this.store.putTag(repo, tag, digest, at);
      return false;
    }
    await this.ensureManifest(repo, digest, peer, { withReferrers: true, named: true });
    await this.store.putTag(repo, tag, digest, at);
    return true;
  }

  /**
   * Delete a manifest here only if its source no longer has it: a delete that
   * reaches this region after the manifest was pushed there again (an event
   * redelivered late, behind newer ones) must not remove what the source holds.
   */
  private async applyManifestDelete(repo: string, digest: Digest, peer: PeerClient): Promise<void> {
    if ((await peer.locate(repo, digest)).digest) return;
    await this.store.deleteManifest(repo, digest);
  }

  /** Delete `tag` when the delete stamped `at` is newer than the last change seen here; returns whether it went. */
  async applyTagDelete(repo: string, tag: string, at: HlcTimestamp | undefined, onConflict?: () => void): Promise<boolean> {
    if (!this.newer(await this.store.tag(repo, parseTag(tag)), at, onConflict)) return false;
    return this.store.deleteTag(repo, tag, at);
  }

  /** Whether a tag change stamped `at` is newer than the last one this region applied to that tag; an older one is a conflict lost. */
  private newer(here: TagState, at: HlcTimestamp | undefined, onConflict?: () => void): boolean {
    const local = here.clock;
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
  async ensureManifest(repo: string, digest: Digest, peer: PeerClient, { withReferrers = false, named = false }: EnsureOptions = {}): Promise<void> {
    const here = await this.store.hasManifest(repo, digest);
    if (here && !withReferrers) return;
    const m = await peer.getManifest(repo, digest, withReferrers).catch((err: unknown) => {
      // Only the manifest an event names being gone means the event is stale; anything else missing is a failure.
      throw named && notFound(err) ? new GoneAtSource(`${repo}@${digest} is gone at the source`) : err;
    });
    if (!here) {
      const body = Buffer.from(m.content);
      const parsed = parseManifest(body, m.mediaType);
      await inParallel(parsed.blobs, BLOBS_AT_ONCE, (blob) => this.ensureBlob(repo, blob.digest, blob.size, peer));
      for (const child of parsed.children) await this.ensureManifest(repo, child.digest, peer);
      await this.store.putManifest(repo, digest, body, m.mediaType);
    }
    if (withReferrers) for (const r of m.referrers) await this.ensureManifest(repo, parseDigest(r), peer);
  }

  /** Link `digest` (of `size` bytes, as its manifest says) into `repo`: from local content when any repository here has it, else from the peer. */
  async ensureBlob(repo: string, digest: Digest, size: number, peer: PeerClient): Promise<void> {
    if (await this.store.hasBlob(repo, digest)) return;
    if (await this.store.ingestBlob(repo, digest, (offset) => peer.readBlob(repo, digest, offset, size))) peer.blobsCopied++;
  }
}
