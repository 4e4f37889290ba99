import { ImageConfigTypes, type ParsedManifest } from 'georeg/oci';
import type { ManifestRecord } from '../meta/store.js';
import type { BlobStore } from '../storage/driver.js';

/** A config larger than this is not read for its platform (image configs are a few KiB). */
const MAX_CONFIG_BYTES = 1 << 20;

/** What ACR's manifest properties show of an image, recorded with the manifest at push and at replication. */
export type ImageFacts = Pick<ManifestRecord, 'imageSize' | 'architecture' | 'os' | 'platforms'>;

/**
 * The facts of a manifest: an image's size (config and layers) and platform (from its config blob,
 * which must be stored already); an index's size (its children's) and its children's platforms.
 * A config that cannot be read or parsed leaves the platform out: the push is not refused for it.
 */
export async function imageFacts(parsed: ParsedManifest, blobs: BlobStore): Promise<ImageFacts> {
  if (parsed.children.length > 0 || parsed.config === undefined) {
    return {
      imageSize: sum(parsed.children.map((c) => c.size)),
      platforms: parsed.children.map((c) => ({ digest: c.digest, architecture: c.platform?.architecture, os: c.platform?.os })),
    };
  }
  const facts: ImageFacts = { imageSize: parsed.config.size + sum(parsed.layers.map((l) => l.size)) };
  if (ImageConfigTypes.has(parsed.config.mediaType) && parsed.config.size <= MAX_CONFIG_BYTES) {
    const platform = await blobs
      .readAll(parsed.config.digest)
      .then((bytes) => JSON.parse(bytes.toString('utf8')) as unknown)
      .catch(() => undefined);
    if (typeof platform === 'object' && platform !== null) {
      const { architecture, os } = platform as Record<string, unknown>;
      if (typeof architecture === 'string') facts.architecture = architecture;
      if (typeof os === 'string') facts.os = os;
    }
  }
  return facts;
}

function sum(sizes: number[]): number {
  return sizes.reduce((a, b) => a + b, 0);
}
