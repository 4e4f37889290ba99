import { status as grpcStatus } from '@grpc/grpc-js';
import { Action, type Event } from 'georeg/proto';
import { changeOrder, type HlcTimestamp, type TagState } from 'georeg/nodes';
import { isOciError, parseDigest, parseName, parseTag, type Descriptor, type Digest, parseManifest, type ParsedManifest } from 'georeg/oci';
import type { RegionStore } from './region-store.js';
import type { PeerClient } from './peer-client.js';

/**
 * The manifest an event names is no longer at its source: deleted there since
 * the event (or its tag moved on), which a later event of the same repository
 * says. Waiting cannot bring it back; the replicator acknowledges and skips.
 */
export class GoneAtSource extends Error {
  override name = 'GoneAtSource';
}

/**
 * A peer sent a blob whose bytes do not match its digest. `settled`: it did so CORRUPT_SETTLED times
 * in a row, so its copy is corrupt (a network fault would not repeat); the replicator then sets
 * the event aside instead of retrying it forever, and anti-entropy tries again each pass.
 */
export class CorruptAtSource extends Error {
  override name = 'CorruptAtSource';
  constructor(
    message: string,
    readonly settled: boolean,
  ) {
    super(message);
  }
}

/** Mismatches in a row that settle a blob as corrupt at its source. */
const CORRUPT_SETTLED = 3;
/** How long a settled blob fails at once, without fetching it again (anti-entropy's default period, twice). */
const CORRUPT_REMEMBERED_MS = 10 * 60_000;

const notFound = (err: unknown): boolean => (err as { code?: unknown }).code === grpcStatus.NOT_FOUND;

/** A low-cardinality reason for a failed event application or repair (metrics label). */
export function failureReason(err: unknown): string {
  const e = err as { code?: unknown; status?: unknown; kind?: unknown; message?: unknown };
  if (err instanceof CorruptAtSource || e.kind === 'DIGEST_INVALID') return 'digest_mismatch';
  if (typeof e.code === 'number') {
    if (e.code === grpcStatus.UNAVAILABLE || e.code === grpcStatus.DEADLINE_EXCEEDED) return 'unreachable';
    if (e.code === grpcStatus.NOT_FOUND) return 'not_found';
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return 'invalid';
  return 'internal';
}

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
  /** Per peer and blob: digest mismatches in a row, and when the last was. */
  readonly #mismatches = new Map<string, { count: number; at: number }>();
  /** Blob copies in progress, by peer, repository and digest. */
  readonly #copying = new Map<string, Promise<void>>();

  constructor(
    private readonly store: RegionStore,
    private readonly now: () => number = Date.now,
  ) {}

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
    if (event.action === Action.LOCK_PUT) {
      if (event.timestamp) await this.store.applyLock(event.lockKey, event.lock, event.timestamp);
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
   * newer than the last one this region saw for the tag. The store compares
   * again as it writes: a newer change that landed while the manifest was
   * copied (another peer's lane) wins, and this one is a conflict lost.
   * Returns whether the tag changed here.
   */
  async applyTag(
    repo: string,
    tag: string,
    digest: Digest,
    at: HlcTimestamp | undefined,
    peer: PeerClient,
    onConflict?: () => void,
  ): Promise<boolean> {
    const here = await this.store.tag(repo, parseTag(tag));
    if (!this.newer(here, at, onConflict)) return false;
    if (here.digest === digest) {
      // The same image tagged again, later: keep the newer stamp, or an older change seen after it
      // (a delete from a third region) would win here and lose everywhere else.
      if (at) await this.store.putTag(repo, tag, digest, at);
      return false;
    }
    await this.ensureManifest(repo, digest, peer, { withReferrers: true, named: true });
    if (await this.store.putTag(repo, tag, digest, at)) return true;
    onConflict?.();
    return false;
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
    const order = changeOrder(at, here.clock);
    if (order === 'older') onConflict?.();
    return order === 'newer';
  }

  /**
   * Make `digest` a manifest of `repo` here, copying whatever it depends on
   * first; `withReferrers` (before a tag points at it) also copies the
   * manifests that refer to it on the peer, so a tag never arrives before the
   * signatures that let a trust policy serve it.
   */
  async ensureManifest(
    repo: string,
    digest: Digest,
    peer: PeerClient,
    { withReferrers = false, named = false }: EnsureOptions = {},
  ): Promise<void> {
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
      await this.store.putManifest(repo, digest, body, m.mediaType, parsed);
    }
    if (withReferrers) for (const r of m.referrers) await this.ensureManifest(repo, parseDigest(r), peer);
  }

  /**
   * Copy what a manifest being pushed here needs and this region lacks (its blobs and child
   * manifests in `repo`), each from the peer `find` names for it; one no peer holds stays missing.
   * Returns the digests still missing and the regions copied from.
   */
  async ensureReferences(
    repo: string,
    manifest: Pick<ParsedManifest, 'blobs' | 'children'>,
    find: (d: Descriptor, isManifest: boolean) => Promise<PeerClient | undefined>,
  ): Promise<{ missing: Digest[]; from: Set<string> }> {
    const missing: Digest[] = [];
    const from = new Set<string>();
    const copy = async (d: Descriptor, isManifest: boolean): Promise<void> => {
      if (await (isManifest ? this.store.hasManifest(repo, d.digest) : this.store.hasBlob(repo, d.digest))) return;
      const peer = await find(d, isManifest);
      if (!peer) return void missing.push(d.digest);
      await (isManifest ? this.ensureManifest(repo, d.digest, peer) : this.ensureBlob(repo, d.digest, d.size, peer));
      from.add(peer.region);
    };
    await inParallel(manifest.blobs, BLOBS_AT_ONCE, (d) => copy(d, false));
    for (const child of manifest.children) await copy(child, true);
    return { missing, from };
  }

  /**
   * Link `digest` (of `size` bytes, as its manifest says) into `repo`: from local content when any
   * repository here has it, else from the peer. Callers that need the same blob at once (a
   * repository's events and anti-entropy) share one copy, and one try of a corrupt one.
   */
  async ensureBlob(repo: string, digest: Digest, size: number, peer: PeerClient): Promise<void> {
    if (await this.store.hasBlob(repo, digest)) return;
    const key = `${peer.region}\0${repo}\0${digest}`;
    const running = this.#copying.get(key);
    if (running) return running;
    const copy = this.#copyBlob(repo, digest, size, peer).finally(() => this.#copying.delete(key));
    this.#copying.set(key, copy);
    return copy;
  }

  async #copyBlob(repo: string, digest: Digest, size: number, peer: PeerClient): Promise<void> {
    const key = `${peer.region}\0${digest}`;
    const seen = this.#mismatches.get(key);
    const corrupt = (count: number): CorruptAtSource =>
      new CorruptAtSource(
        `${peer.region} sent ${repo}@${digest} with other content, ${count} time(s) in a row: its copy there is corrupt, or it changed in transit`,
        count >= CORRUPT_SETTLED,
      );
    if (seen && seen.count >= CORRUPT_SETTLED && this.now() - seen.at < CORRUPT_REMEMBERED_MS) throw corrupt(seen.count);
    try {
      if (await this.store.ingestBlob(repo, digest, (offset) => peer.readBlob(repo, digest, offset, size))) peer.blobsCopied++;
    } catch (err) {
      if (!isOciError(err, 'DIGEST_INVALID')) throw err;
      const count = (seen?.count ?? 0) + 1;
      this.#mismatches.set(key, { count, at: this.now() });
      throw corrupt(count);
    }
    this.#mismatches.delete(key);
  }
}
