import type { Digest, Reference } from 'georeg/oci';
import type { RegistryStores } from './stores.js';

export interface LocalLocation {
  /** The manifest the reference resolves to here, when it does. */
  digest?: Digest;
  complete: boolean;
  /** What the manifest needs that is not here (blobs, child manifests). */
  missing: Digest[];
}

/** Whether this node holds a tag or digest completely: the manifest, its children and all their blobs. */
export async function locate({ meta, blobs }: RegistryStores, repo: string, ref: Reference): Promise<LocalLocation> {
  const digest = ref.digest ?? (await meta.getTag(repo, ref.tag));
  if (!digest || !(await meta.getManifest(repo, digest))) return { complete: false, missing: [] };
  const missing: Digest[] = [];
  const seen = new Set<string>();
  const walk = async (d: Digest): Promise<void> => {
    if (seen.has(d)) return;
    seen.add(d);
    const record = await meta.getManifest(repo, d);
    if (!record || (await blobs.stat(d)) === undefined) {
      missing.push(d);
      return;
    }
    for (const r of record.references) {
      if (await meta.getManifest(repo, r)) await walk(r);
      else if (!(await meta.getBlobLink(repo, r)) || (await blobs.stat(r)) === undefined) missing.push(r);
    }
  };
  await walk(digest);
  return { digest, complete: missing.length === 0, missing };
}
