import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { oci, digestAlgorithm, digestHex, type Digest } from 'georeg/oci';
import { KeyedLock } from '../keyed-lock.js';
import type { UploadStaging } from '../storage/driver.js';
import { UPLOAD_ID } from '../storage/checks.js';
import type { MetaStore, UploadSession } from '../meta/store.js';
import type { BlobService } from './blobs.js';
import type { ContentGuard } from './content-guard.js';

/** Where a chunk claims to go: `Content-Range: start-end`, both inclusive. */
export interface ChunkRange {
  start: number;
  end: number;
}

interface LiveUpload {
  size: number;
  busy: boolean;
  /** The session's `updated` as this node last wrote or read it: another value means another node sharing the metadata wrote since. */
  updated: number;
}

/**
 * Resumable blob uploads. Bytes go to upload staging (which hashes
 * them as they arrive); the blob becomes visible (and linked) only after its
 * digest checks out. Sessions live in the MetaStore, so they survive a restart.
 */
export class UploadService {
  private readonly live = new Map<string, LiveUpload>();
  /** One ingest at a time per staging id. */
  private readonly ingests = new KeyedLock();

  constructor(
    private readonly staging: UploadStaging,
    private readonly meta: MetaStore,
    private readonly blobs: BlobService,
    private readonly guard: ContentGuard,
    private readonly now: () => number = Date.now,
  ) {}

  async start(repo: string): Promise<UploadSession> {
    const id = randomBytes(18).toString('base64url');
    const t = this.now();
    const session = { id, repository: repo, created: t, updated: t };
    await this.staging.createUpload(id);
    await this.meta.putUpload(session);
    this.live.set(id, { size: 0, busy: false, updated: t });
    return session;
  }

  /** Current size of an upload that belongs to `repo`. */
  async status(repo: string, id: string): Promise<number> {
    await this.session(repo, id);
    const size = await this.staging.uploadSize(id);
    if (size === undefined) throw oci('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    return size;
  }

  /** Append a chunk; `range`, when given, must start at the current size. Returns the new size. */
  async append(repo: string, id: string, source: Readable, range?: ChunkRange): Promise<number> {
    return this.exclusive(repo, id, async (up) => {
      if (range && range.start !== up.size) {
        source.resume();
        throw oci('BLOB_UPLOAD_RANGE', `chunk must start at offset ${up.size}`, { offset: up.size });
      }
      return this.write(id, up, source, range);
    });
  }

  /** Finish an upload, with an optional last chunk, and commit it under `digest`. */
  async finish(repo: string, id: string, digest: Digest, source?: Readable, range?: ChunkRange): Promise<void> {
    await this.exclusive(repo, id, async (up) => {
      if (source) {
        if (range && range.start !== up.size) {
          source.resume();
          throw oci('BLOB_UPLOAD_RANGE', `chunk must start at offset ${up.size}`, { offset: up.size });
        }
        await this.write(id, up, source, range);
      }
      await this.commit(repo, id, digest, up.size);
      await this.meta.deleteUpload(id);
      this.live.delete(id);
    });
  }

  /**
   * Stage a blob copied from elsewhere (a peer region) under an id derived from
   * its digest, so an interrupted copy resumes: `fetch(offset)` streams the
   * bytes from `offset` on, and whatever an earlier attempt staged is kept.
   * Verified and committed like any upload; on a digest mismatch the staged
   * bytes are dropped and DIGEST_INVALID is thrown (the next attempt starts over).
   * Copies of one digest run one at a time, and one that finds the blob stored
   * by the copy before it only links it. Returns whether bytes were fetched.
   */
  async ingest(repo: string, digest: Digest, fetch: (offset: number) => Readable | Promise<Readable>): Promise<boolean> {
    const id = `r-${digestHex(digest).slice(0, 60)}`;
    return this.ingests.run(id, async () => {
      if (await this.blobs.adopt(repo, digest)) return false;
      await this.staging.createUpload(id);
      const offset = (await this.staging.uploadSize(id)) ?? 0;
      const source = await fetch(offset);
      let size: number;
      try {
        size = await this.staging.appendUpload(id, source);
      } finally {
        // A failure before the source was read (the staging file could not be opened) must not
        // leave the peer's stream open, holding its read slot until the replicator stops.
        source.destroy();
      }
      await this.commit(repo, id, digest, size);
      return true;
    });
  }

  /** Verify the staged bytes against `digest`, then make them the blob and link it into `repo`. */
  private async commit(repo: string, id: string, digest: Digest, size: number): Promise<void> {
    const actual = await this.staging.digestUpload(id, digestAlgorithm(digest));
    if (actual !== digest) {
      await this.drop(id);
      throw oci('DIGEST_INVALID', undefined, { expected: digest });
    }
    await this.guard.committing(digest, async () => {
      await this.staging.commitUpload(id, digest);
      await this.blobs.link(repo, digest, size);
    });
  }

  /** A whole blob in one request (POST `?digest=` with a body). */
  async monolithic(repo: string, digest: Digest, source: Readable): Promise<void> {
    const session = await this.start(repo);
    try {
      await this.finish(repo, session.id, digest, source);
    } catch (e) {
      await this.drop(session.id);
      throw e;
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    await this.session(repo, id);
    await this.drop(id);
  }

  /** Remove sessions idle for longer than `maxAgeMs` and staged data with no session. */
  async expire(maxAgeMs: number): Promise<{ sessions: number; leftovers: number }> {
    const cutoff = this.now() - maxAgeMs;
    let sessions = 0;
    let leftovers = 0;
    for await (const s of this.meta.listUploads()) {
      if (s.updated < cutoff && !this.live.get(s.id)?.busy) {
        await this.drop(s.id);
        sessions++;
      }
    }
    for await (const u of this.staging.listUploads()) {
      if (u.modified < cutoff && !this.live.has(u.id) && !(await this.meta.getUpload(u.id))) {
        await this.staging.deleteUpload(u.id);
        leftovers++;
      }
    }
    return { sessions, leftovers };
  }

  private async session(repo: string, id: string): Promise<UploadSession> {
    const s = UPLOAD_ID.test(id) ? await this.meta.getUpload(id) : undefined;
    if (!s || s.repository !== repo) throw oci('BLOB_UPLOAD_UNKNOWN', undefined, { id: id.slice(0, 64) });
    return s;
  }

  /** Run `fn` with the upload's live state, one request at a time per upload. */
  private async exclusive<T>(repo: string, id: string, fn: (up: LiveUpload) => Promise<T>): Promise<T> {
    const session = await this.session(repo, id);
    let up = this.live.get(id);
    // Another node over the same metadata and staging (a shared metadata store) wrote a chunk since: the size here is stale.
    if (up && !up.busy && up.updated !== session.updated) up = undefined;
    if (!up) {
      const size = await this.staging.uploadSize(id);
      if (size === undefined) throw oci('BLOB_UPLOAD_UNKNOWN', undefined, { id });
      // Another request may have filled the entry while we awaited: share it, so `busy` guards both
      // (one busy writing is never replaced: this request is refused below).
      const held = this.live.get(id);
      up = held && (held.busy || held.updated === session.updated) ? held : { size, busy: false, updated: session.updated };
      this.live.set(id, up);
    }
    if (up.busy) throw oci('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', { id });
    up.busy = true;
    try {
      const result = await fn(up);
      if (this.live.has(id)) {
        up.updated = this.now();
        await this.meta.putUpload({ ...session, updated: up.updated });
      }
      return result;
    } finally {
      up.busy = false;
    }
  }

  /** Append `source`; with `range` (already checked to start at the current size), the chunk must end where it says. */
  private async write(id: string, up: LiveUpload, source: Readable, range?: ChunkRange): Promise<number> {
    try {
      up.size = await this.staging.appendUpload(id, source);
    } catch (e) {
      // The client went away or the disk failed: what reached the staging area stays.
      up.size = (await this.staging.uploadSize(id)) ?? 0;
      throw e;
    }
    // A body without Content-Length (chunked) is checked against its Content-Range only now. The
    // bytes stay (they came in order, from this offset on); the client hears its range was wrong.
    if (range && up.size !== range.end + 1) {
      throw oci('BLOB_UPLOAD_RANGE', `Content-Range declared ${range.end - range.start + 1} bytes, the body had ${up.size - range.start}`, {
        offset: up.size,
      });
    }
    return up.size;
  }

  private async drop(id: string): Promise<void> {
    this.live.delete(id);
    await this.staging.deleteUpload(id);
    await this.meta.deleteUpload(id);
  }
}
