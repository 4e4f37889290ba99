import { oci, digestAlgorithm, digestOf, type Digest, type Reference, parseManifest, type ParsedManifest } from 'georeg/oci';
import type { BlobStore } from '../storage/driver.js';
import type { MetaStore, ManifestRecord } from '../meta/store.js';
import type { ContentGuard } from './content-guard.js';
import type { EventRecorder } from '../events/recorder.js';
import type { TrustGate } from '../trust/gate.js';
import { imageFacts } from './image-facts.js';
import type { Locks } from './locks.js';

export interface ManifestOptions {
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
}

export interface StoredManifest {
  record: ManifestRecord;
  bytes: Buffer;
}

export class ManifestService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetaStore,
    private readonly guard: ContentGuard,
    readonly options: ManifestOptions,
    private readonly now: () => number = Date.now,
    /** Builds the events of each change, when this node publishes events. */
    private readonly events?: EventRecorder,
    /** Told of every manifest linked or removed, so signatures are tracked as they arrive. */
    private readonly trust?: TrustGate,
    /** Refuse pushes and deletes that a lock disables (replicated changes are not refused: their region accepted them). */
    private readonly locks?: Locks,
  ) {}

  /** The record of the manifest a tag or digest names in `repo`, when it is here. */
  async find(repo: string, ref: Reference): Promise<ManifestRecord | undefined> {
    const digest = ref.digest ?? (await this.meta.getTag(repo, ref.tag));
    return digest && this.meta.getManifest(repo, digest);
  }

  async get(repo: string, ref: Reference): Promise<StoredManifest> {
    const record = await this.find(repo, ref);
    if (!record) throw oci('MANIFEST_UNKNOWN', undefined, ref.tag !== undefined ? { tag: ref.tag } : { digest: ref.digest });
    return { record, bytes: await this.blobs.readAll(record.digest) };
  }

  /** Validate and store a manifest pushed here, with its events; returns its record. */
  async put(repo: string, ref: Reference, body: Buffer, contentType: string | undefined): Promise<ManifestRecord> {
    const digest = this.verify(ref, body);
    await this.locks?.check('write', repo, { tags: ref.tag === undefined ? [] : [ref.tag], digest });
    return this.store(repo, ref, digest, body, parseManifest(body, contentType), false);
  }

  /**
   * Store a manifest replicated from another region, as the copier parsed it, and record no event
   * (no echo). Its blobs and children must be here already.
   */
  async putReplicated(repo: string, digest: Digest, body: Buffer, parsed: ParsedManifest): Promise<void> {
    const ref = { digest, tag: undefined };
    await this.store(repo, ref, this.verify(ref, body), body, parsed, true);
  }

  /** Delete by digest (the manifest and its tags) or by tag (the tag only). */
  async delete(repo: string, ref: Reference): Promise<void> {
    const on = ref.digest !== undefined ? { digest: ref.digest, tags: await this.meta.tagsOf(repo, ref.digest) } : { tags: [ref.tag] };
    await this.locks?.check('delete', repo, on);
    const gone = ref.digest !== undefined ? await this.deleteManifest(repo, ref.digest, false) : await this.deleteTag(repo, ref.tag);
    if (gone) this.events?.committed();
    if (!gone) throw oci('MANIFEST_UNKNOWN', undefined, ref.digest ? { digest: ref.digest } : { tag: ref.tag });
  }

  /** Unlink a manifest deleted in another region, and its tags, recording no event; returns whether it was here. */
  deleteReplicated(repo: string, digest: Digest): Promise<boolean> {
    return this.deleteManifest(repo, digest, true);
  }

  /** The manifest's digest, once its size and the digest its reference names are checked. */
  private verify(ref: Reference, body: Buffer): Digest {
    if (body.length > this.options.maxManifestBytes) {
      throw oci('MANIFEST_TOO_LARGE', `manifest exceeds ${this.options.maxManifestBytes} bytes`);
    }
    const digest = digestOf(body, ref.digest ? digestAlgorithm(ref.digest) : 'sha256');
    if (ref.digest && ref.digest !== digest) {
      throw oci('DIGEST_INVALID', 'manifest digest does not match the reference', { expected: ref.digest, actual: digest });
    }
    return digest;
  }

  /** Store a verified manifest and point `ref.tag` at it; a push records its events, a `replicated` one none. */
  private async store(
    repo: string,
    ref: Reference,
    digest: Digest,
    body: Buffer,
    parsed: ParsedManifest,
    replicated: boolean,
  ): Promise<ManifestRecord> {
    const references = [...parsed.blobs, ...parsed.children].map((d) => d.digest);
    // A GC running meanwhile, on this node or another, must keep what this manifest depends on until it is committed.
    return this.guard.writing([digest, ...references], async () => {
      await this.checkReferences(repo, parsed, !replicated);
      await this.guard.exclusive(digest, async () => {
        await this.blobs.putBlob(digest, body);
      });
      const record: ManifestRecord = {
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        created: this.now(),
        references,
        ...(await imageFacts(parsed, this.blobs)),
      };
      if (parsed.subject) record.subject = parsed.subject.digest;
      if (parsed.artifactType) record.artifactType = parsed.artifactType;
      if (parsed.annotations) record.annotations = parsed.annotations;
      const ev = replicated ? undefined : this.events;
      const events = ev && [ev.manifestPut(repo, record)];
      // Stamped after the manifest's event, so the tag change orders after it.
      const tagClock = ref.tag === undefined ? undefined : ev?.stamp();
      if (events && ref.tag !== undefined && tagClock) events.push(ev.tagPut(repo, ref.tag, record, tagClock));
      await this.trust?.linking(repo, record);
      await this.meta.putManifest(repo, record, ref.tag, { events, tagClock });
      ev?.committed();
      this.trust?.changed(repo, record);
      return record;
    });
  }

  /** Unlink a manifest and its tags; a `replicated` delete records no event. Returns whether it was here. */
  private async deleteManifest(repo: string, digest: Digest, replicated: boolean): Promise<boolean> {
    const ev = replicated ? undefined : this.events;
    const gone = await this.meta.deleteManifest(repo, digest, { events: ev && [ev.manifestDelete(repo, digest)] });
    if (gone) this.trust?.changed(repo);
    return gone;
  }

  private deleteTag(repo: string, tag: string): Promise<boolean> {
    const tagClock = this.events?.stamp();
    return this.meta.deleteTag(repo, tag, { tagClock, events: this.events && tagClock && [this.events.tagDelete(repo, tag, tagClock)] });
  }

  /**
   * Every referenced blob and child manifest must be in the repository with its descriptor's size.
   * Child sizes are checked only for pushes (`childSizes`): a replicated index was accepted by its
   * region, perhaps by a version that did not check them, and refusing it would stall replication.
   */
  private async checkReferences(repo: string, parsed: ParsedManifest, childSizes: boolean): Promise<void> {
    const [blobLinks, children] = await Promise.all([
      Promise.all(parsed.blobs.map((d) => this.meta.getBlobLink(repo, d.digest))),
      Promise.all(parsed.children.map((d) => this.meta.getManifest(repo, d.digest))),
    ]);
    parsed.blobs.forEach((d, i) => {
      const link = blobLinks[i];
      if (!link) throw oci('MANIFEST_BLOB_UNKNOWN', `blob ${d.digest} is not in the repository`, { digest: d.digest });
      if (link.size !== d.size) {
        throw oci('MANIFEST_INVALID', `descriptor size ${d.size} does not match blob ${d.digest}`, { digest: d.digest });
      }
    });
    parsed.children.forEach((d, i) => {
      const child = children[i];
      if (!child) throw oci('MANIFEST_BLOB_UNKNOWN', `manifest ${d.digest} is not in the repository`, { digest: d.digest });
      if (childSizes && child.size !== d.size) {
        throw oci('MANIFEST_INVALID', `descriptor size ${d.size} does not match manifest ${d.digest}`, { digest: d.digest });
      }
    });
  }
}
