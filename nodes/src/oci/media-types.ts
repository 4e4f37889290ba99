export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  octetStream: 'application/octet-stream',
  json: 'application/json',
} as const;

/** Media types whose documents list children manifests rather than layers. */
export const IndexTypes: ReadonlySet<string> = new Set([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
/** Media types whose documents are single image (or artifact) manifests. */
export const ImageTypes: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.dockerManifest]);

export function isManifestMediaType(mt: string): boolean {
  return IndexTypes.has(mt) || ImageTypes.has(mt);
}
