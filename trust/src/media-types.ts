/** Media types of the signature artifacts georeg writes and reads. */
export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** artifactType of a georeg tag binding referrer; its one layer is a sigstore bundle. */
export const TAG_BINDING_ARTIFACT = 'application/vnd.georeg.tag-binding.v1+json';
export const COSIGN_SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const NOTARY_SIGNATURE = 'application/vnd.cncf.notary.signature';
export const IN_TOTO = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** Predicate of a cosign image signature. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** Predicate of a georeg tag binding. */
export const TAG_BINDING_PREDICATE = 'https://georeg.dev/tag-binding/v1';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** artifactTypes whose manifests stay readable in enforce mode: they are the signatures. */
export const SIGNATURE_ARTIFACTS: ReadonlySet<string> = new Set([SIGSTORE_BUNDLE_V03, TAG_BINDING_ARTIFACT, NOTARY_SIGNATURE]);
