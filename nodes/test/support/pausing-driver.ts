import type { Digest } from 'georeg/oci';
import { FsBlobDriver } from '../../src/storage/fs-driver.js';
import type { BlobInfo } from '../../src/storage/driver.js';

/** A point a PausingDriver can stop at. */
export type PausePoint =
  /** Before an upload is committed. */
  | `commit:${string}`
  /** After an upload was committed under a digest: its bytes are in place (or were already), not yet linked. */
  | `committed:${Digest}`
  /** Before a manifest's bytes are stored (ManifestService stores them with putBlob, after checking the references). */
  | `manifest:${Digest}`
  /** After a blob was found stored (a mount finds it, then links it; a GC looks, then decides on its links). */
  | `stat:${Digest}`
  /** A GC starts listing the blobs: by then it has listed every link. */
  | 'list';

interface Pause {
  match: (point: PausePoint) => boolean;
  reached: () => void;
  until: Promise<void>;
}

/**
 * An fs driver that stops at the next point an armed pause matches until the test releases it, so a
 * test interleaves writers and a GC step by step rather than by timing.
 */
export class PausingDriver extends FsBlobDriver {
  readonly #pauses: Pause[] = [];

  /** Arm a pause; `reached` resolves once a matching point is waiting, which goes on after `release()`. */
  arm(match: (point: PausePoint) => boolean): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    const until = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((resolve) => this.#pauses.push({ match, reached: resolve, until }));
    return { reached, release };
  }

  override async commitUpload(id: string, digest: Digest): Promise<void> {
    await this.#at(`commit:${id}`);
    await super.commitUpload(id, digest);
    await this.#at(`committed:${digest}`);
  }

  override async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.#at(`manifest:${digest}`);
    return super.putBlob(digest, bytes);
  }

  override async stat(digest: Digest): Promise<number | undefined> {
    const size = await super.stat(digest);
    if (size !== undefined) await this.#at(`stat:${digest}`);
    return size;
  }

  override async *list(): AsyncIterable<BlobInfo> {
    await this.#at('list');
    yield* super.list();
  }

  async #at(point: PausePoint): Promise<void> {
    const i = this.#pauses.findIndex((p) => p.match(point));
    if (i < 0) return;
    const [p] = this.#pauses.splice(i, 1) as [Pause];
    p.reached();
    await p.until;
  }
}
