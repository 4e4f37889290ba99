import { oci, type Digest } from 'georeg/oci';
import type { Logger } from '../log.js';
import type { BlobLink } from '../meta/store.js';
import type { DigestUse } from '../meta/digest-locks.js';
import type { RegistryStores } from './stores.js';
import type { ContentGuard } from './content-guard.js';
import type { UploadService } from './uploads.js';
import type { Locks } from './locks.js';

export interface GcOptions {
  dryRun: boolean;
  /** A blob (or blob link) younger than this survives even when unreferenced. */
  graceMs: number;
  /** Upload sessions idle for longer than this are removed. */
  uploadMaxAgeMs: number;
}

/** Something found inconsistent in the store. */
export interface Broken {
  kind: 'tag-without-manifest' | 'manifest-without-bytes' | 'reference-missing' | 'link-without-blob';
  repository: string;
  digest: Digest;
  detail?: string;
}

export interface GcReport {
  dryRun: boolean;
  blobsDeleted: Digest[];
  bytesFreed: number;
  linksRemoved: number;
  uploadsRemoved: number;
  broken: Broken[];
  ms: number;
}

/** collectGarbage, counted in the node's metrics (failures too). */
export async function runGc(
  registry: { gc: GarbageCollector },
  opts: GcOptions,
  log: Logger,
  metrics: { gc(report: GcReport | undefined): void },
): Promise<GcReport> {
  try {
    const report = await collectGarbage(registry, opts, log);
    metrics.gc(report);
    return report;
  } catch (e) {
    metrics.gc(undefined);
    throw e;
  }
}

/** A registry's garbage collection (GarbageCollector.collect). */
export function collectGarbage(registry: { gc: GarbageCollector }, opts: GcOptions, log: Logger, now?: () => number): Promise<GcReport> {
  return registry.gc.collect(opts, log, now);
}

/** Collects the garbage of a registry's stores, beside the writers that hold digests in its guard. */
export class GarbageCollector {
  constructor(
    private readonly stores: RegistryStores,
    private readonly guard: ContentGuard,
    private readonly uploads: UploadService,
    private readonly locks: Locks,
  ) {}

  /**
   * Mark and sweep while the node keeps serving. Marked: every manifest and every
   * digest a manifest references, in any repository. Swept: blob links nobody
   * references once older than the grace period, then blobs with no mark and no
   * link once older than the grace period. Digests that writers touch during the
   * run (ContentGuard) are never swept, nor the links of a repository locked against
   * deletes (its blobs stay linked, so they stay too). One run at a time among the
   * nodes that share the metadata store (its `gc` lease): another answers UNAVAILABLE.
   * Their writers do not touch this node's guard: each removal then holds the digest's
   * lock and goes ahead only if the store, read under it, still agrees (unreferenced).
   */
  async collect(opts: GcOptions, log: Logger, now = Date.now): Promise<GcReport> {
    const lease = await this.stores.meta.tryLease('gc');
    if (!lease) throw oci('UNAVAILABLE', 'another node of this region is collecting garbage: try again once it is done');
    try {
      return await this.#collect(opts, log, now, () => {
        if (!lease.held)
          throw oci('UNAVAILABLE', 'this node lost the gc lease (its database connection broke): the run stopped; start it again');
      });
    } finally {
      await lease.release();
    }
  }

  /** `leased` throws once this node no longer holds the gc lease: checked before each removal, so two nodes never sweep at once. */
  async #collect(opts: GcOptions, log: Logger, now: () => number, leased: () => void): Promise<GcReport> {
    const { meta, blobs } = this.stores;
    const started = now();
    const cutoff = started - opts.graceMs;
    const live = new Set<string>();
    const guard = this.guard;
    const stop = guard.watch((d) => live.add(d));
    const report: GcReport = {
      dryRun: opts.dryRun,
      blobsDeleted: [],
      bytesFreed: 0,
      linksRemoved: 0,
      uploadsRemoved: 0,
      broken: [],
      ms: 0,
    };
    try {
      // Many repositories share blobs (base layers): each is looked up once a run.
      const held = new Map<string, Promise<boolean>>();
      const present = (digest: Digest): Promise<boolean> => {
        let p = held.get(digest);
        if (!p) held.set(digest, (p = blobs.stat(digest).then((size) => size !== undefined)));
        return p;
      };
      const marked = await this.mark(report.broken, present);
      const linked = new Set<string>();
      for (const repo of await meta.listRepositories()) {
        const locked = (await this.locks.lockOf('delete', repo)) !== undefined;
        for await (const { digest, link } of meta.listBlobLinks(repo)) {
          if (!(await present(digest))) report.broken.push({ kind: 'link-without-blob', repository: repo, digest });
          if (locked || marked.has(digest) || link.created >= cutoff) {
            linked.add(digest);
            continue;
          }
          if (opts.dryRun) {
            report.linksRemoved++;
            continue;
          }
          leased();
          if (await guard.removing(digest, (use) => this.unlinkStale(repo, digest, link, live, use))) report.linksRemoved++;
        }
      }
      for await (const blob of blobs.list()) {
        if (marked.has(blob.digest) || linked.has(blob.digest) || blob.modified >= cutoff) continue;
        if (!opts.dryRun) {
          leased();
          const gone = await guard.removing(blob.digest, async (use) => !live.has(blob.digest) && !inUse(use) && blobs.delete(blob.digest));
          if (!gone) continue;
        }
        report.blobsDeleted.push(blob.digest);
        report.bytesFreed += blob.size;
      }
      if (!opts.dryRun) {
        const expired = await this.uploads.expire(opts.uploadMaxAgeMs);
        report.uploadsRemoved = expired.sessions + expired.leftovers;
      }
    } finally {
      stop();
    }
    report.ms = now() - started;
    log.info('gc finished', { ...report, blobsDeleted: report.blobsDeleted.length, broken: report.broken.length });
    return report;
  }

  /**
   * Remove a stale link unless a writer touches its digest first. A manifest put
   * touches its references before it checks their links, so a touch that lands
   * while the unlink is in flight may come from a put that already saw the link:
   * put it back. (Upload commits link under the same exclusive section, so nothing
   * else can have linked the digest meanwhile.) On a shared store, the link must also still be
   * the one listed (not linked again since) and no manifest may reference the digest (`use`).
   */
  private async unlinkStale(repo: string, digest: Digest, link: BlobLink, live: Set<string>, use?: DigestUse): Promise<boolean> {
    const { meta } = this.stores;
    if (live.has(digest)) return false;
    if (use && (use.referenced || use.links.get(repo) !== link.created)) return false;
    if (!(await meta.unlinkBlob(repo, digest))) return false;
    if (!live.has(digest)) return true;
    await meta.linkBlob(repo, digest, link);
    return false;
  }

  private async mark(broken: Broken[], present: (digest: Digest) => Promise<boolean>): Promise<Set<string>> {
    const { meta } = this.stores;
    const marked = new Set<string>();
    for (const repo of await meta.listRepositories()) {
      const manifests = new Set<string>();
      for await (const m of meta.listManifests(repo)) {
        manifests.add(m.digest);
        marked.add(m.digest);
        for (const r of m.references) marked.add(r);
        if (!(await present(m.digest))) broken.push({ kind: 'manifest-without-bytes', repository: repo, digest: m.digest });
        for (const r of m.references) {
          const ok = (await meta.getBlobLink(repo, r)) || (await meta.getManifest(repo, r));
          if (!ok) broken.push({ kind: 'reference-missing', repository: repo, digest: m.digest, detail: r });
        }
      }
      for (const tag of await meta.listTags(repo)) {
        const d = await meta.getTag(repo, tag);
        if (d && !manifests.has(d)) broken.push({ kind: 'tag-without-manifest', repository: repo, digest: d, detail: tag });
      }
    }
    return marked;
  }
}

/** Whether a shared store, read under the digest's lock, still links or references a digest (`use`: none on a store of this process alone). */
function inUse(use: DigestUse | undefined): boolean {
  return use !== undefined && (use.referenced || use.links.size > 0);
}
