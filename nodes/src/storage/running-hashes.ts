import type { Hash } from 'node:crypto';
import { hashToDigest, newHash, type Algorithm, type Digest } from 'georeg/oci';
import { Lru } from '../lru.js';

/** Uploads an instance remembers a running hash of. */
const REMEMBERED = 1024;

/**
 * The SHA-256 an instance of a cloud driver computed of an upload's bytes as it appended them,
 * with the version of the upload (an ETag, or what the driver derives from its pieces) that holds
 * exactly those bytes. While the upload is still at that version, the next append goes on hashing
 * where the last stopped and the digest needs no read-back; once another node appended (a new
 * version this instance did not write), the driver reads the bytes back instead.
 */
export class RunningHashes {
  readonly #known = new Lru<string, { version: string; hash: Hash }>(REMEMBERED);

  /** The hash to go on with for an append to upload `id`, now at `version` and `size` bytes; undefined when unknown. */
  resume(id: string, version: string | undefined, size: number): Hash | undefined {
    const known = this.#known.get(id);
    if (known && known.version === version) return known.hash.copy();
    return size === 0 ? newHash('sha256') : undefined;
  }

  /** After an append: `hash` (if it was kept) covers upload `id` at `version`; without either, nothing is known. */
  appended(id: string, version: string | undefined, hash: Hash | undefined): void {
    if (hash && version !== undefined) this.#known.set(id, { version, hash });
    else this.#known.delete(id);
  }

  /** The digest of upload `id` at `version` when this instance hashed every byte of it. */
  digest(id: string, version: string, alg: Algorithm): Digest | undefined {
    const known = this.#known.get(id);
    return alg === 'sha256' && known?.version === version ? hashToDigest(known.hash.copy(), alg) : undefined;
  }

  forget(id: string): void {
    this.#known.delete(id);
  }
}
