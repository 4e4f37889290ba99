import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ForeignLayerTypes, isManifestMediaType, isOciError, parseDescriptor, parseManifest, type Descriptor } from 'georeg/oci';

/** The index.json annotation that names a manifest (its tag). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** A layout that is missing, malformed or does not hold what was asked for. */
export class LayoutError extends Error {
  override name = 'LayoutError';
}

export interface Layout {
  dir: string;
  /** The manifest or index picked from index.json. */
  descriptor: Descriptor;
  /** The file of a blob; throws on a digest that is not sha256:<64 hex>. */
  blobPath(digest: string): string;
  /** A small blob (a manifest, a config), verified against its digest. */
  readBytes(digest: string, maxBytes?: number): Promise<Buffer>;
  readJson<T>(digest: string): Promise<T>;
}

/** Everything to push, in a safe order: the blobs, then the manifests with children before their index, the top one last. */
export interface PushPlan {
  blobs: Descriptor[];
  manifests: Descriptor[];
}

/** Opens the OCI image layout in `dir` at the manifest tagged `tag`, or at its only manifest. */
export async function openLayout(dir: string, tag?: string): Promise<Layout> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new LayoutError(`${dir}: no such directory`);
  const marker = await readJsonFile<{ imageLayoutVersion?: unknown }>(join(dir, 'oci-layout'), `${dir} is not an OCI image layout`);
  if (marker.imageLayoutVersion !== '1.0.0')
    throw new LayoutError(`${dir}: unsupported imageLayoutVersion ${JSON.stringify(marker.imageLayoutVersion)}`);
  const index = await readJsonFile<{ manifests?: unknown }>(join(dir, 'index.json'), `${dir} is not an OCI image layout`);
  if (!Array.isArray(index.manifests)) throw new LayoutError(`${dir}/index.json: no manifests list`);
  const entries = index.manifests.map((m, i) => layoutError(() => parseDescriptor(m, `manifests[${i}]`), `${dir}/index.json`));
  const names = entries.map((e) => e.annotations?.[REF_NAME] ?? '(untagged)').join(', ');
  const picked = tag === undefined ? entries : entries.filter((e) => e.annotations?.[REF_NAME] === tag);
  if (picked.length !== 1 || !picked[0]) {
    if (entries.length === 0) throw new LayoutError(`${dir}: index.json lists no manifests`);
    if (tag === undefined) throw new LayoutError(`${dir} holds ${entries.length} manifests (${names}): name one as ${dir}:TAG`);
    throw new LayoutError(
      `${dir}: ${picked.length === 0 ? 'no' : 'more than one'} manifest tagged ${JSON.stringify(tag)} (tags: ${names})`,
    );
  }

  const blobPath = (digest: string): string => {
    if (!SHA256.test(digest)) throw new LayoutError(`${dir}: unsupported or malformed digest ${JSON.stringify(digest)}`);
    return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  };
  const readBytes = async (digest: string, maxBytes = MAX_JSON_BYTES): Promise<Buffer> => {
    const path = blobPath(digest);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) throw new LayoutError(`${dir}: blob ${digest} is missing`);
    if (size > maxBytes) throw new LayoutError(`${dir}: blob ${digest} is larger than ${maxBytes} bytes`);
    const bytes = await readFile(path);
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest)
      throw new LayoutError(`${dir}: blob ${digest} is corrupt (its content has another digest)`);
    return bytes;
  };
  return {
    dir,
    descriptor: picked[0],
    blobPath,
    readBytes,
    readJson: async <T>(digest: string): Promise<T> => parseJson<T>(await readBytes(digest), `${dir}: blob ${digest}`),
  };
}

/** Walks the picked manifest: an index's child manifests, a manifest's config and layers. */
export async function pushPlan(layout: Layout): Promise<PushPlan> {
  const blobs = new Map<string, Descriptor>();
  const manifests = new Map<string, Descriptor>(); // in the order they may be pushed
  const at = (d: Descriptor): string => `${layout.dir}: manifest ${d.digest}`;

  const addBlob = async (d: Descriptor, where: string): Promise<void> => {
    if (blobs.has(d.digest)) return;
    const size = (await stat(layout.blobPath(d.digest)).catch(() => undefined))?.size;
    if (size === undefined) {
      // Registries need not hold foreign layers (their `urls` say where they are): a layout may lack them.
      if (ForeignLayerTypes.has(d.mediaType)) return;
      throw new LayoutError(`${where}: blob ${d.digest} is missing from the layout`);
    }
    if (size !== d.size) throw new LayoutError(`${where}: blob ${d.digest} has ${size} bytes, its descriptor says ${d.size}`);
    blobs.set(d.digest, d);
  };

  const visit = async (d: Descriptor): Promise<void> => {
    if (manifests.has(d.digest)) return;
    const bytes = await layout.readBytes(d.digest);
    if (bytes.length !== d.size) throw new LayoutError(`${at(d)} has ${bytes.length} bytes, its descriptor says ${d.size}`);
    if (!isManifestMediaType(d.mediaType)) throw new LayoutError(`${at(d)}: unsupported media type ${d.mediaType}`);
    const m = layoutError(() => parseManifest(bytes, d.mediaType), at(d));
    for (const child of m.children) await visit(child);
    if (m.config) await addBlob(m.config, at(d));
    for (const layer of m.layers) await addBlob(layer, at(d));
    manifests.set(d.digest, d);
  };

  await visit(layout.descriptor);
  return { blobs: [...blobs.values()], manifests: [...manifests.values()] };
}

/** `parse()`, its OciError (a manifest or descriptor that does not validate) a LayoutError at `where`, with the error's detail. */
function layoutError<T>(parse: () => T, where: string): T {
  try {
    return parse();
  } catch (e) {
    if (isOciError(e))
      throw new LayoutError(`${where}: ${e.message}${e.detail === undefined ? '' : ` ${JSON.stringify(e.detail)}`}`, { cause: e });
    throw e;
  }
}

/** A JSON object (not an array, string or null). */
function parseJson<T>(bytes: Buffer, where: string): T {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new LayoutError(`${where}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LayoutError(`${where}: not a JSON object`);
  return v as T;
}

async function readJsonFile<T>(path: string, missing: string): Promise<T> {
  const bytes = await readFile(path).catch(() => undefined);
  if (bytes === undefined) throw new LayoutError(`${missing}: cannot read ${path}`);
  return parseJson<T>(bytes, path);
}
