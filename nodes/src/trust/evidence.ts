import { BundleError, SIGSTORE_BUNDLE_V03, verifyBundle, type Evidence, type Trust } from 'georeg/trust';
import type { BlobDriver } from '../storage/driver.js';
import type { MetaStore } from '../meta/store.js';
import type { Digest } from '../oci/digest.js';
import { parseDigest } from '../oci/digest.js';

/** Largest sigstore bundle read; real ones are a few KiB. */
const MAX_BUNDLE_BYTES = 1024 * 1024;
/** At most this many signature referrers of one manifest are verified (pushing thousands must not stall a pull). */
const MAX_SIGNATURES = 64;

/**
 * Finds and verifies the signatures of a manifest: its referrers of the given
 * artifact types, each holding one sigstore bundle layer, verified against the
 * trust document's keys. Nothing a peer region checked is trusted: every bundle
 * is verified here.
 */
export class EvidenceReader {
  constructor(
    private readonly meta: MetaStore,
    private readonly driver: BlobDriver,
  ) {}

  async read(trust: Trust, repo: string, digest: Digest, artifactTypes: readonly string[]): Promise<Evidence[]> {
    const referrers = (await this.meta.listReferrers(repo, digest)).filter((d) => d.artifactType !== undefined && artifactTypes.includes(d.artifactType));
    return Promise.all(referrers.slice(0, MAX_SIGNATURES).map((d) => this.verify(trust, d.digest)));
  }

  async verify(trust: Trust, manifest: Digest): Promise<Evidence> {
    try {
      return verifyBundle(await this.bundleOf(manifest), trust.publicKeys);
    } catch (e) {
      if (e instanceof BundleError) return e;
      return new BundleError('malformed', `signature ${manifest}: ${(e as Error).message}`);
    }
  }

  /** The bundle layer of a signature manifest. */
  private async bundleOf(manifest: Digest): Promise<Buffer> {
    const m = JSON.parse((await this.driver.readAll(manifest)).toString('utf8')) as { layers?: { mediaType?: string; digest?: string; size?: number }[] };
    const layer = m.layers?.[0];
    if (!layer || m.layers?.length !== 1 || layer.mediaType !== SIGSTORE_BUNDLE_V03) throw new Error('expected one sigstore bundle layer');
    if (typeof layer.size !== 'number' || layer.size > MAX_BUNDLE_BYTES) throw new Error(`bundle larger than ${MAX_BUNDLE_BYTES} bytes`);
    return this.driver.readAll(parseDigest(String(layer.digest)));
  }
}
