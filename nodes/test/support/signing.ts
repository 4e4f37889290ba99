import {
  bindingStatement,
  bundleReferrer,
  imageStatement,
  parsePrivateKey,
  signStatement,
  type GeneratedKey,
  type Statement,
  type TagBinding,
} from 'georeg/trust';
import { apiPaths, digestOf, EMPTY_BLOB, MediaTypes, type Descriptor } from 'georeg/oci';
import { http, pushBlob, sha256 } from './client.js';

export function subjectOf(manifest: Buffer, mediaType: string = MediaTypes.ociManifest): Descriptor {
  return { digest: digestOf(manifest), size: manifest.length, mediaType };
}

/** Push `bundle` as a referrer of `subject` in `repo`; returns the referrer manifest's digest. */
export async function pushBundle(
  base: string,
  repo: string,
  subject: Descriptor,
  bundle: Buffer,
  artifactType: string,
  statement: Statement,
): Promise<string> {
  const bundleDigest = await pushBlob(base, repo, bundle);
  await pushBlob(base, repo, EMPTY_BLOB);
  const manifest = bundleReferrer(subject, { digest: bundleDigest, size: bundle.length }, artifactType, statement);
  const digest = sha256(manifest);
  const res = await http('PUT', `${base}${apiPaths.manifest(repo, digest)}`, {
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status !== 201) throw new Error(`push signature: ${res.status} ${res.body.toString()}`);
  return digest;
}

/** Sign and push a tag binding for `subject` (the binding's fields default to this repository and subject). */
export async function pushBinding(
  base: string,
  repo: string,
  subject: Descriptor,
  key: GeneratedKey,
  b: Partial<TagBinding> & { tag: string; sequence: number },
): Promise<string> {
  const statement = bindingStatement({
    registry: 'reg.test',
    repository: repo,
    digest: subject.digest,
    issuedAt: new Date().toISOString(),
    ...b,
  });
  const bundle = await signStatement(statement, parsePrivateKey(key.privatePem));
  return pushBundle(base, repo, subject, bundle, MediaTypes.tagBinding, statement);
}

/** Sign and push a cosign image signature (sign/v1) for `subject`. */
export async function pushImageSignature(base: string, repo: string, subject: Descriptor, key: GeneratedKey): Promise<string> {
  const statement = imageStatement(`reg.test/${repo}`, subject.digest);
  return pushBundle(
    base,
    repo,
    subject,
    await signStatement(statement, parsePrivateKey(key.privatePem)),
    MediaTypes.sigstoreBundle,
    statement,
  );
}

/** Replace the node's trust policy document; returns the new version. */
export async function setPolicy(base: string, doc: unknown): Promise<string> {
  const res = await http('PUT', `${base}${apiPaths.trustPolicy()}`, {
    body: JSON.stringify(doc),
    headers: { 'Content-Type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`set policy: ${res.status} ${res.body.toString()}`);
  return res.json<{ version: string }>().version;
}
