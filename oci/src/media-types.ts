/** Every media type georeg names: manifests, indexes, signatures, foreign layers. One list for the whole project. */
export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociImageConfig: 'application/vnd.oci.image.config.v1+json',
  dockerImageConfig: 'application/vnd.docker.container.image.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  octetStream: 'application/octet-stream',
  json: 'application/json',
  /** A sigstore bundle v0.3: a cosign v3 signature's layer, and its referrer's artifactType. */
  sigstoreBundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  /** artifactType of a georeg tag binding referrer; its one layer is a sigstore bundle. */
  tagBinding: 'application/vnd.georeg.tag-binding.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  notarySignature: 'application/vnd.cncf.notary.signature',
  jose: 'application/jose+json',
  cose: 'application/cose',
  /** The payload type of a DSSE envelope holding an in-toto statement. */
  inToto: 'application/vnd.in-toto+json',
} as const;

/** Media types whose documents list children manifests rather than layers. */
export const IndexTypes: ReadonlySet<string> = new Set([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
/** Media types whose documents are single image (or artifact) manifests. */
export const ImageTypes: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.dockerManifest]);

/** Config media types of container images: their config says the platform (architecture, os). */
export const ImageConfigTypes: ReadonlySet<string> = new Set([MediaTypes.ociImageConfig, MediaTypes.dockerImageConfig]);

export function isManifestMediaType(mt: string): boolean {
  return IndexTypes.has(mt) || ImageTypes.has(mt);
}

/** Foreign (non-distributable) layers live elsewhere, e.g. Windows base layers: registries need not hold them. */
export const ForeignLayerTypes: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);
