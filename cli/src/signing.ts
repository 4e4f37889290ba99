import type { KeyObject } from 'node:crypto';
import {
  bindingStatement,
  bundleReferrer,
  imageStatement,
  legacySignatureManifest,
  legacySignatureTag,
  parseStatement,
  signBytes,
  signStatement,
  simpleSigningPayload,
  type Statement,
  type TrustDocument,
} from 'georeg/trust';
import { apiPaths, digestOf, EMPTY_BLOB, isOciError, MediaTypes, parseManifest, type ParsedManifest } from 'georeg/oci';
import { RegistryError, type Manifest, type ManifestHead, type RegistryClient } from './registry-client.js';

/** Largest signature bundle read back from a registry. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

export interface SignRequest {
  client: RegistryClient;
  /** The registry identity bindings name (what the registry's policy `identity` expects). */
  identity: string;
  repository: string;
  tag: string;
  subject: ManifestHead;
  key: KeyObject;
  /** Binding sequence; by default the next after the highest this tag has seen. */
  sequence?: number;
  /** Also write cosign's `sha256-<hex>.sig` tag for older verifiers. */
  legacyTag?: boolean;
}

export interface SignResult {
  sequence: number;
  binding: string;
  signature: string;
  legacyTag?: string;
}

/** A manifest read from a registry, walked; one that does not validate is a RegistryError naming `what`. */
function parsed(m: Manifest, what: string): ParsedManifest {
  try {
    return parseManifest(m.bytes, m.mediaType);
  } catch (e) {
    if (isOciError(e)) throw new RegistryError(`${what}: ${e.message}`, undefined, undefined, undefined, { cause: e });
    throw e;
  }
}

/** The statement inside a signature referrer's bundle, unverified (for numbering and display). */
export async function statementOf(
  client: RegistryClient,
  repo: string,
  referrer: string,
): Promise<{ statement: Statement; digest: string; bundle: Buffer }> {
  const { layers } = parsed(await client.getManifest(repo, referrer, [MediaTypes.ociManifest]), `signature ${referrer}`);
  const layer = layers.find((l) => l.mediaType === MediaTypes.sigstoreBundle);
  if (!layer) throw new RegistryError(`signature ${referrer} holds no sigstore bundle`);
  const bundle = await client.getBlob(repo, layer.digest, MAX_BUNDLE_BYTES);
  const envelope = (JSON.parse(bundle.toString('utf8')) as { dsseEnvelope?: { payload?: string } }).dsseEnvelope;
  return { ...parseStatement(Buffer.from(envelope?.payload ?? '', 'base64')), bundle };
}

/** What a georeg registry tells a signer about a tag: its target and highest binding sequence (undefined from other registries). */
export interface TagTrustState {
  target: ManifestHead | null;
  /** The highest sequence enough trusted keys reached (0: none). */
  highestSequence: number;
  /** Sequences trusted, valid keys signed, highest first (verified by the registry). */
  sequences: { sequence: number; digest: string; keys: string[] }[];
}

export async function tagTrustState(client: RegistryClient, repo: string, tag: string): Promise<TagTrustState | undefined> {
  return client.getJson<TagTrustState>(apiPaths.trustTag(repo, tag));
}

/** The manifest a tag points at; from a georeg registry also when its policy refuses to serve the tag unsigned. */
export async function resolveTag(client: RegistryClient, repo: string, tag: string): Promise<ManifestHead> {
  try {
    const head = await client.headManifest(repo, tag);
    if (head) return head;
  } catch (e) {
    if (!(e instanceof RegistryError && e.status === 403)) throw e;
  }
  const target = (await tagTrustState(client, repo, tag))?.target;
  if (!target) throw new RegistryError(`${repo}:${tag}: no such tag`, 404, 'MANIFEST_UNKNOWN');
  return target;
}

/**
 * The sequence of a new binding, from what the registry verified (never from
 * unverified referrers anyone could push): the newest sequence trusted keys
 * signed for this digest when nothing newer exists (a co-signature, toward a
 * threshold), else past both the highest reached and the clock.
 */
async function nextSequence(client: RegistryClient, repo: string, tag: string, digest: string): Promise<number> {
  const state = await tagTrustState(client, repo, tag);
  const newest = state?.sequences[0];
  if (newest && newest.digest === digest && newest.sequence >= (state?.highestSequence ?? 0)) return newest.sequence;
  return Math.max((state?.highestSequence ?? 0) + 1, newest ? newest.sequence + 1 : 0, Date.now());
}

async function pushReferrer(
  client: RegistryClient,
  repo: string,
  subject: ManifestHead,
  statement: Statement,
  key: KeyObject,
  artifactType: string,
): Promise<string> {
  const bundle = await signStatement(statement, key);
  const blob = await client.pushBytes(repo, bundle);
  await client.pushBytes(repo, EMPTY_BLOB);
  const manifest = bundleReferrer(subject, blob, artifactType, statement);
  return client.putManifest(repo, digestOf(manifest), manifest, MediaTypes.ociManifest);
}

/**
 * Sign `repository:tag` at `subject`: a cosign v3 image signature and a georeg
 * tag binding, both as OCI 1.1 referrers of the digest (and, when asked, the
 * legacy cosign `.sig` tag).
 */
export async function signTag(r: SignRequest): Promise<SignResult> {
  const { client, repository: repo, subject } = r;
  const sequence = r.sequence ?? (await nextSequence(client, repo, r.tag, subject.digest));
  const reference = `${r.identity}/${repo}`;
  const signature = await pushReferrer(client, repo, subject, imageStatement(reference, subject.digest), r.key, MediaTypes.sigstoreBundle);
  const binding = await pushReferrer(
    client,
    repo,
    subject,
    bindingStatement({
      registry: r.identity,
      repository: repo,
      tag: r.tag,
      digest: subject.digest,
      sequence,
      issuedAt: new Date().toISOString(),
    }),
    r.key,
    MediaTypes.tagBinding,
  );
  const result: SignResult = { sequence, binding, signature };
  if (r.legacyTag) {
    const payload = simpleSigningPayload(`${reference}:${r.tag}`, subject.digest, { tag: r.tag, sequence: String(sequence) });
    const blob = await client.pushBytes(repo, payload);
    await client.pushBytes(repo, EMPTY_BLOB);
    result.legacyTag = legacySignatureTag(subject.digest);
    const before = await client.getManifest(repo, result.legacyTag, [MediaTypes.ociManifest]).catch((e: unknown) => {
      if (e instanceof RegistryError && e.status === 404) return undefined;
      throw e;
    });
    // cosign keeps every signature of a digest as one layer of the .sig manifest: add ours to those already there.
    const kept = before ? parsed(before, result.legacyTag).layers.filter((l) => l.digest !== blob.digest) : [];
    const manifest = legacySignatureManifest(blob, signBytes(r.key, payload), kept);
    await client.putManifest(repo, result.legacyTag, manifest, MediaTypes.ociManifest);
  }
  return result;
}

/** The trust document a georeg registry enforces (undefined from other registries). */
export async function registryTrust(client: RegistryClient): Promise<TrustDocument | undefined> {
  return (await client.getJson<{ document: TrustDocument }>(apiPaths.trustPolicy()))?.document;
}
