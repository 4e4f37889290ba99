/**
 * Where a committed blob lives in an object store (the Azure and S3 drivers), as in the fs driver's
 * root: `blobs/<alg>/<first two hex>/<hex>`.
 */
import { digestAlgorithm, digestHex, parseDigest, type Digest } from 'georeg/oci';

export const BLOBS = 'blobs/';

/** The name of a digest's blob; DIGEST_INVALID for a malformed digest (no name is built from one). */
export function blobName(digest: Digest): string {
  const valid = parseDigest(digest);
  const hex = digestHex(valid);
  return `${BLOBS}${digestAlgorithm(valid)}/${hex.slice(0, 2)}/${hex}`;
}

/** The digest a blob name stands for; undefined for any other name. */
export function digestNamed(name: string): Digest | undefined {
  const [alg, , hex] = name.slice(BLOBS.length).split('/');
  try {
    const digest = parseDigest(`${alg}:${hex}`);
    return blobName(digest) === name ? digest : undefined;
  } catch {
    return undefined;
  }
}
