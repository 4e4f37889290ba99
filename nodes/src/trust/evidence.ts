import { BundleError, verifyBundle, type Evidence, type Trust } from 'georeg/trust';
import { MediaTypes, parseManifest, type Digest } from 'georeg/oci';
import type { BlobStore } from '../storage/driver.js';
import type { MetaStore } from '../meta/store.js';
import { Lru } from '../lru.js';

/** Largest sigstore bundle read; real ones are a few KiB. */
const MAX_BUNDLE_BYTES = 1024 * 1024;
const VERIFIED_CACHE = 20_000;

/**
 * Finds and verifies the signatures of a manifest: its referrers of the given
 * artifact types, each holding one sigstore bundle layer, verified against the
 * trust document's keys. Nothing a peer region checked is trusted: every bundle
 * is verified here, once per policy version (a referrer's bytes never change),
 * and every referrer is looked at, so junk referrers cannot crowd real ones out.
 */
export class EvidenceReader {
  readonly #verified = new Lru<string, Evidence>(VERIFIED_CACHE);

  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
  ) {}

  async read(trust: Trust, version: string, repo: string, digest: Digest, artifactTypes: readonly string[]): Promise<Evidence[]> {
    const referrers = (await this.meta.listReferrers(repo, digest)).filter(
      (d) => d.artifactType !== undefined && artifactTypes.includes(d.artifactType),
    );
    return Promise.all(referrers.map((d) => this.verify(trust, version, d.digest)));
  }

  async verify(trust: Trust, version: string, manifest: Digest): Promise<Evidence> {
    const key = `${version}\0${manifest}`;
    let e = this.#verified.get(key);
    if (e === undefined) {
      try {
        e = verifyBundle(await this.bundleOf(manifest), trust.publicKeys);
      } catch (err) {
        e = err instanceof BundleError ? err : new BundleError('malformed', `signature ${manifest}: ${(err as Error).message}`);
      }
      this.#verified.set(key, e);
    }
    return e;
  }

  /** The bundle layer of a signature manifest. */
  async bundleOf(manifest: Digest): Promise<Buffer> {
    const { layers } = parseManifest(await this.blobs.readAll(manifest), undefined);
    const layer = layers[0];
    if (!layer || layers.length !== 1 || layer.mediaType !== MediaTypes.sigstoreBundle)
      throw new Error('expected one sigstore bundle layer');
    if (layer.size > MAX_BUNDLE_BYTES) throw new Error(`bundle larger than ${MAX_BUNDLE_BYTES} bytes`);
    return this.blobs.readAll(layer.digest);
  }
}
