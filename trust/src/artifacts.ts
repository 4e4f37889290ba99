import { EMPTY_DESCRIPTOR, MediaTypes, type Descriptor } from 'georeg/oci';
import type { Statement } from './statements.js';

const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** artifactTypes whose manifests stay readable in enforce mode: they are the signatures. */
export const SIGNATURE_ARTIFACTS: ReadonlySet<string> = new Set([
  MediaTypes.sigstoreBundle,
  MediaTypes.tagBinding,
  MediaTypes.notarySignature,
]);

/**
 * An OCI 1.1 referrer of `subject` holding one sigstore bundle, in the layout
 * cosign v3 writes: empty config, one bundle layer, `artifactType` telling what
 * the bundle is (a cosign signature, or a georeg tag binding).
 */
export function bundleReferrer(
  subject: Descriptor,
  bundle: { digest: string; size: number },
  artifactType: string,
  statement: Statement,
): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: MediaTypes.sigstoreBundle, digest: bundle.digest, size: bundle.size }],
    subject,
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': statement.predicateType,
      'org.opencontainers.image.created': new Date().toISOString(),
    },
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** The tag older cosign versions read a digest's signatures from: `sha256-<hex>.sig`. */
export function legacySignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The simple-signing payload cosign signs for `reference` at `digest`; `optional` carries extra claims. */
export function simpleSigningPayload(reference: string, digest: string, optional: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': reference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional,
    }),
  );
}

/**
 * The manifest under the legacy `.sig` tag: a simple-signing layer, its signature in an annotation,
 * after the `kept` layers (cosign keeps every signature of a digest as one layer of that manifest).
 */
export function legacySignatureManifest(
  payload: { digest: string; size: number },
  signature: Buffer,
  kept: readonly Descriptor[] = [],
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: EMPTY_DESCRIPTOR,
      layers: [
        ...kept,
        {
          mediaType: MediaTypes.cosignSimpleSigning,
          digest: payload.digest,
          size: payload.size,
          annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature.toString('base64') },
        },
      ],
    }),
  );
}
