import {
  ForeignLayerTypes,
  ImageTypes,
  IndexTypes,
  isManifestMediaType,
  MediaTypes,
  oci,
  parseDigest,
  type Descriptor,
  type Digest,
} from 'georeg/oci';

/** What the registry needs to know of a manifest document, after validation. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs that must be linked into the repository (config and layers). */
  blobs: Descriptor[];
  /** Child manifests that must exist in the repository (index entries). */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function invalid(message: string, detail?: unknown): never {
  throw oci('MANIFEST_INVALID', message, detail);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
  return d;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) invalid(`${where} must be an array`);
  return v.map((x, i) => parseDescriptor(x, `${where}[${i}]`));
}

/**
 * Validate a manifest document. `contentType` is the request's Content-Type; the
 * document's own `mediaType`, when present, must agree with it.
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

  const parsed: ParsedManifest = { mediaType: mt, blobs: [], children: [] };
  if (IndexTypes.has(mt)) {
    parsed.children = descriptors(doc.manifests, 'manifests');
  } else if (ImageTypes.has(mt)) {
    const config = parseDescriptor(doc.config, 'config');
    const layers = doc.layers === undefined && mt === MediaTypes.ociManifest ? [] : descriptors(doc.layers, 'layers');
    parsed.blobs = [config, ...layers.filter((l) => !ForeignLayerTypes.has(l.mediaType))];
    // distribution-spec: a referrer's artifactType falls back to its config's media type.
    if (mt === MediaTypes.ociManifest) parsed.artifactType = config.mediaType;
  } else {
    throw oci('MANIFEST_INVALID', `unsupported manifest media type ${mt}`);
  }
  if (doc.artifactType !== undefined) parsed.artifactType = mediaType(doc.artifactType, 'artifactType');
  if (doc.subject !== undefined) parsed.subject = parseDescriptor(doc.subject, 'subject');
  const ann = annotations(doc.annotations, 'manifest');
  if (ann) parsed.annotations = ann;
  return parsed;
}

function inferType(doc: Record<string, unknown>): string {
  if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
  if (isObject(doc.config)) return MediaTypes.ociManifest;
  return invalid('manifest has no mediaType and is neither an image manifest nor an index');
}
