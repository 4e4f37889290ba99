import { oci } from './errors.js';
import { parseDigest, type Digest } from './digest.js';
import { ForeignLayerTypes, ImageTypes, IndexTypes, MediaTypes, isManifestMediaType } from './media-types.js';
import type { Descriptor } from './descriptor.js';

/**
 * A manifest or index document, validated: THE walker of manifest bodies (the registry's pushes
 * and replicas, the trust gate and evidence, the CLI's layouts and signatures all read them here).
 */
export interface ParsedManifest {
  mediaType: string;
  /** An image manifest's config. */
  config?: Descriptor;
  /** An image manifest's layers, foreign ones included. */
  layers: Descriptor[];
  /** Blobs that must be linked into the repository: the config and the layers that are not foreign. */
  blobs: Descriptor[];
  /** Child manifests that must exist in the repository (index entries). */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  /**
   * Whether the document or one of its descriptors has a key that is a field in other letter case
   * (`Layers`). Go's encoding/json, which containerd and Docker use, matches keys ignoring case (the
   * last one wins), so such a document can read one way here and another way there.
   */
  caseVariantKeys: boolean;
}

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** The fields of a manifest and its descriptors, as the OCI image spec spells them. */
const FIELDS = new Map(
  [
    'schemaVersion',
    'mediaType',
    'artifactType',
    'config',
    'layers',
    'subject',
    'annotations',
    'digest',
    'size',
    'urls',
    'data',
    'platform',
  ].map((f) => [f.toLowerCase(), f]),
);

function invalid(message: string, detail?: unknown): never {
  throw oci('MANIFEST_INVALID', message, detail);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function caseVariant(o: unknown): boolean {
  if (!isObject(o)) return false;
  return Object.keys(o).some((k) => {
    const field = FIELDS.get(k.toLowerCase());
    return field !== undefined && field !== k;
  });
}

function annotations(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    invalid(`${where}: annotations must be a map of strings`);
  }
  return v as Record<string, string>;
}

function mediaType(v: unknown, where: string): string {
  if (typeof v !== 'string' || !MEDIA_TYPE.test(v)) invalid(`${where}: invalid mediaType`);
  return v;
}

/** A descriptor's `urls` and `platform` are kept when well formed and never make it invalid. */
function extras(v: Record<string, unknown>, d: Descriptor): void {
  if (Array.isArray(v.urls) && v.urls.every((u) => typeof u === 'string')) d.urls = v.urls;
  const p = v.platform;
  if (isObject(p) && typeof p.architecture === 'string' && typeof p.os === 'string') {
    d.platform = { architecture: p.architecture, os: p.os, ...(typeof p.variant === 'string' && { variant: p.variant }) };
  }
}

/** A descriptor (`where` names it in the error: `layers[2]`); throws MANIFEST_INVALID. */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) invalid(`${where}: descriptor must be an object`);
  let digest: Digest;
  try {
    digest = parseDigest(v.digest);
  } catch {
    invalid(`${where}: invalid digest`, { digest: String(v.digest).slice(0, 80) });
  }
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}: invalid size`);
  const d: Descriptor = { mediaType: mediaType(v.mediaType, where), digest, size };
  if (v.artifactType !== undefined) d.artifactType = mediaType(v.artifactType, `${where}.artifactType`);
  const ann = annotations(v.annotations, where);
  if (ann) d.annotations = ann;
  extras(v, d);
  return d;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) invalid(`${where} must be an array`);
  return v.map((x, i) => parseDescriptor(x, `${where}[${i}]`));
}

/**
 * Validate a manifest or index document; throws MANIFEST_INVALID. `contentType` is the media type
 * it was sent or listed under (a request's Content-Type, a descriptor's mediaType); the document's
 * own `mediaType`, when present, must agree with it.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    invalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) invalid('manifest must be a JSON object');
  if (doc.schemaVersion !== 2) invalid('unsupported schemaVersion (only 2 is accepted)');

  const declared = doc.mediaType === undefined ? undefined : mediaType(doc.mediaType, 'manifest');
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  if (declared && header && isManifestMediaType(header) && header !== declared) {
    invalid('manifest mediaType does not match Content-Type', { mediaType: declared, contentType: header });
  }
  const mt = declared ?? (header && isManifestMediaType(header) ? header : inferType(doc));

  const parsed: ParsedManifest = { mediaType: mt, layers: [], blobs: [], children: [], caseVariantKeys: false };
  let described: unknown[];
  if (IndexTypes.has(mt)) {
    parsed.children = descriptors(doc.manifests, 'manifests');
    described = Array.isArray(doc.manifests) ? doc.manifests : [];
  } else if (ImageTypes.has(mt)) {
    const config = parseDescriptor(doc.config, 'config');
    parsed.config = config;
    parsed.layers = doc.layers === undefined && mt === MediaTypes.ociManifest ? [] : descriptors(doc.layers, 'layers');
    parsed.blobs = [config, ...parsed.layers.filter((l) => !ForeignLayerTypes.has(l.mediaType))];
    // distribution-spec: a referrer's artifactType falls back to its config's media type.
    if (mt === MediaTypes.ociManifest) parsed.artifactType = config.mediaType;
    described = [doc.config, ...(Array.isArray(doc.layers) ? doc.layers : [])];
  } else {
    throw oci('MANIFEST_INVALID', `unsupported manifest media type ${mt}`);
  }
  if (doc.artifactType !== undefined) parsed.artifactType = mediaType(doc.artifactType, 'artifactType');
  if (doc.subject !== undefined) parsed.subject = parseDescriptor(doc.subject, 'subject');
  const ann = annotations(doc.annotations, 'manifest');
  if (ann) parsed.annotations = ann;
  parsed.caseVariantKeys = [doc, doc.subject, ...described].some(caseVariant);
  return parsed;
}

function inferType(doc: Record<string, unknown>): string {
  if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
  if (isObject(doc.config)) return MediaTypes.ociManifest;
  return invalid('manifest has no mediaType and is neither an image manifest nor an index');
}
