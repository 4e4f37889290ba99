import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isTag, MediaTypes, parseName } from 'georeg/nodes';
import { CliError } from './command.js';
import type { Descriptor } from './oci-layout.js';
import { RegistryError } from './registry-error.js';
import { TokenAuth, type Credentials } from './token-auth.js';

/** What `getManifest` and `headManifest` accept unless told otherwise. */
export const MANIFEST_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList];

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// Declared in its own module, which token-auth.ts throws from too (no import cycle).
export { RegistryError };

export interface ImageRef {
  /** `http://host:port` or `https://host`. */
  base: string;
  /** `host[:port]` as written. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Parses `[http[s]://]host[:port]/repo/path[:tag][@sha256:hex]`; plain HTTP for localhost unless told. */
export function parseImageRef(s: string): ImageRef {
  function bad(why: string): never {
    throw new CliError(`bad image reference ${JSON.stringify(s)}: ${why}`);
  }
  const scheme = /^(https?):\/\//.exec(s);
  const rest = scheme ? s.slice(scheme[0].length) : s;
  const slash = rest.indexOf('/');
  if (slash < 0) bad('expected REGISTRY/REPOSITORY[:TAG][@DIGEST]');
  const registry = rest.slice(0, slash);
  const host = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/.exec(registry);
  if (!host) bad(`bad registry host ${JSON.stringify(registry)}`);
  let name = rest.slice(slash + 1);
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    if (!SHA256.test(digest)) bad('the digest must be sha256: and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!isTag(tag)) bad(`bad tag ${JSON.stringify(tag)} (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  try {
    parseName(name);
  } catch {
    bad(`bad repository name ${JSON.stringify(name)} (lowercase letters, digits and separators . _ __ -, components joined by /)`);
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(host[1] ?? '');
  const protocol = scheme?.[1] ?? (local ? 'http' : 'https');
  return { base: `${protocol}://${registry}`, registry, repository: name, ...(tag && { tag }), ...(digest && { digest }) };
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** A client for the OCI Distribution API of one registry. */
export class RegistryClient {
  readonly base: string;

  readonly #auth: TokenAuth;

  constructor(
    base: string,
    private readonly options: { headers?: Record<string, string>; credentials?: Credentials } = {},
  ) {
    this.base = base.replace(/\/+$/, '');
    this.#auth = new TokenAuth(options.credentials, this.base);
  }

  /** A georeg API document (e.g. /georeg/v1/trust/policy); undefined when the registry does not answer one. */
  async getJson<T>(path: string): Promise<T | undefined> {
    const res = await this.request('GET', path, [200, 404, 405]).catch(() => undefined);
    if (res?.status !== 200) {
      await res?.body?.cancel();
      return undefined;
    }
    return (await res.json()) as T;
  }

  async getManifest(repo: string, ref: string, accept: readonly string[] = MANIFEST_TYPES): Promise<Manifest> {
    const path = `/v2/${repo}/manifests/${ref}`;
    const res = await this.request('GET', path, [200], { Accept: accept.join(', ') });
    const bytes = await readLimited(`GET ${path}`, res, MAX_MANIFEST_BYTES);
    const digest = sha256(bytes);
    const claimed = res.headers.get('docker-content-digest') ?? (SHA256.test(ref) ? ref : digest);
    if (claimed !== digest) throw new RegistryError(`GET ${path}: the manifest's digest is ${digest}, not ${claimed}`);
    return { digest, mediaType: contentType(res) ?? documentMediaType(bytes), bytes };
  }

  /** The manifest's digest, media type and size; undefined when the registry does not have it. */
  async headManifest(repo: string, ref: string, accept: readonly string[] = MANIFEST_TYPES): Promise<ManifestHead | undefined> {
    const path = `/v2/${repo}/manifests/${ref}`;
    const res = await this.exchange('HEAD', path, [200, 404], { Accept: accept.join(', ') });
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest') ?? (SHA256.test(ref) ? ref : undefined);
    if (!digest) throw new RegistryError(`HEAD ${path}: no Docker-Content-Digest in the answer`, res.status);
    return { digest, mediaType: contentType(res) ?? '', size: Number(res.headers.get('content-length') ?? 0) };
  }

  /** Stores a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const path = `/v2/${repo}/manifests/${ref}`;
    const res = await this.exchange('PUT', path, [201], { 'Content-Type': mediaType }, bytes);
    const digest = sha256(bytes);
    const stored = res.headers.get('docker-content-digest') ?? digest;
    if (stored !== digest) throw new RegistryError(`PUT ${path}: the registry stored ${stored}, expected ${digest}`, res.status);
    return stored;
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.exchange('HEAD', `/v2/${repo}/blobs/${digest}`, [200, 404]);
    return res.status === 200;
  }

  /** A small blob, read whole: refused when larger than maxBytes, verified against its digest. */
  async getBlob(repo: string, digest: string, maxBytes: number): Promise<Buffer> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const bytes = await readLimited(`GET ${path}`, await this.request('GET', path, [200]), maxBytes);
    if (sha256(bytes) !== digest) throw new RegistryError(`GET ${path}: the content does not match its digest`);
    return bytes;
  }

  /**
   * Uploads a blob unless the repository has it: POST for a session, then one streamed PUT of
   * `size` bytes from `open()`. onBytes counts the bytes as they are sent.
   */
  async pushBlob(repo: string, digest: string, size: number, open: () => Readable, onBytes?: (n: number) => void): Promise<'pushed' | 'skipped'> {
    if (await this.blobExists(repo, digest)) return 'skipped';
    const started = await this.exchange('POST', `/v2/${repo}/blobs/uploads/`, [202]);
    const location = started.headers.get('location');
    if (!location) throw new RegistryError(`POST /v2/${repo}/blobs/uploads/: no Location in the answer`, started.status);
    const url = new URL(location, this.base + '/');
    url.searchParams.set('digest', digest);
    await this.putStream(url, size, open(), onBytes);
    return 'pushed';
  }

  /**
   * PUT of a stream through node:http(s), which waits for the socket to drain; fetch would read the
   * whole stream into memory. A read error of the source rejects as itself, not as a RegistryError.
   */
  private putStream(url: URL, size: number, source: Readable, onBytes?: (n: number) => void): Promise<void> {
    const label = `PUT ${url.pathname}`;
    return new Promise((resolve, reject) => {
      const headers = { ...this.options.headers, ...this.#auth.header(), 'Content-Type': MediaTypes.octetStream, 'Content-Length': size };
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'PUT', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text = (text + chunk).slice(0, 4096)));
        res.on('end', () => {
          if (res.statusCode === 201) return resolve();
          reject(registryError(label, res.statusCode ?? 0, res.statusMessage ?? '', text));
          req.destroy();
        });
      });
      let readError: Error | undefined;
      source.once('error', (e) => (readError = e));
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          onBytes?.(chunk.length);
          done(null, chunk);
        },
      });
      pipeline(source, count, req).catch((e: Error) => reject(readError ?? new RegistryError(`${label}: cannot reach ${this.base}: ${e.message}`)));
    });
  }

  /** Uploads a small in-memory blob (unless present). */
  async pushBytes(repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(bytes);
    await this.pushBlob(repo, digest, bytes.length, () => Readable.from([bytes]));
    return { digest, size: bytes.length };
  }

  /** The descriptors of the manifests whose subject is `digest`, optionally of one artifact type. */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    return this.pages<{ manifests?: Descriptor[] }, Descriptor>(`/v2/${repo}/referrers/${digest}${query}`, (p) => p.manifests ?? []);
  }

  /** All tags of a repository, following `Link` pagination (pageSize asks for pages of that many). */
  async listTags(repo: string, pageSize?: number): Promise<string[]> {
    const query = pageSize === undefined ? '' : `?n=${pageSize}`;
    return this.pages<{ tags?: string[] | null }, string>(`/v2/${repo}/tags/list${query}`, (p) => p.tags ?? []);
  }

  /** GETs a JSON listing and the pages its `Link: <...>; rel="next"` headers lead to. */
  private async pages<P, T>(first: string, items: (page: P) => T[]): Promise<T[]> {
    const all: T[] = [];
    for (let next: string | undefined = first; next !== undefined; ) {
      const path: string = next;
      const res = await this.request('GET', path, [200]);
      const text = (await readLimited(`GET ${path}`, res, MAX_MANIFEST_BYTES)).toString('utf8');
      try {
        all.push(...items(JSON.parse(text) as P));
      } catch {
        throw new RegistryError(`GET ${path}: the answer is not the JSON listing expected`, res.status);
      }
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
      next = link === undefined ? undefined : new URL(link, res.url).href;
    }
    return all;
  }

  /** A request whose answer's body is of no interest (and is discarded so the connection can be reused). */
  private async exchange(method: string, target: string, ok: number[], headers?: Record<string, string>, body?: Buffer): Promise<Response> {
    const res = await this.request(method, target, ok, headers, body);
    await res.body?.cancel();
    return res;
  }

  /** One request; an answer whose status is not in `ok` becomes a RegistryError. `target` is a path or a full URL. */
  private async request(method: string, target: string, ok: number[], headers: Record<string, string> = {}, body?: Buffer): Promise<Response> {
    const url = new URL(target, this.base + '/');
    const label = `${method} ${url.pathname}`;
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(url, { method, headers: { ...this.options.headers, ...this.#auth.header(), ...headers }, body: body as BodyInit | undefined });
      } catch (e) {
        const cause = (e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message;
        throw new RegistryError(`${label}: cannot reach ${this.base}: ${cause}`);
      }
      // A token challenge: get a token for what it asks, and try once more.
      if (res.status !== 401 || attempt > 0 || !(await this.#auth.answer(res.headers.get('www-authenticate')))) break;
      await res.body?.cancel();
    }
    if (ok.includes(res.status)) return res;
    const err = registryError(label, res.status, res.statusText, (await res.text()).slice(0, 4096));
    if (res.status === 401 && !this.options.credentials) err.message += ' (this registry wants credentials: set GEOREG_CREDS=USER:PASSWORD)';
    throw err;
  }
}

function contentType(res: Response): string | undefined {
  return res.headers.get('content-type')?.split(';')[0]?.trim() || undefined;
}

/** The `mediaType` field of a manifest, for registries that send no Content-Type. */
function documentMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown } | null;
    return typeof doc?.mediaType === 'string' ? doc.mediaType : '';
  } catch {
    return '';
  }
}

/** `GET /v2/a/manifests/x: 404 MANIFEST_UNKNOWN manifest unknown`, from the OCI error body when there is one. */
function registryError(label: string, status: number, statusText: string, text: string): RegistryError {
  let first: { code?: unknown; message?: unknown; detail?: unknown } | undefined;
  try {
    first = (JSON.parse(text) as { errors?: (typeof first)[] }).errors?.[0];
  } catch {
    // not JSON
  }
  if (first && typeof first.code === 'string') {
    const message = typeof first.message === 'string' ? ` ${first.message}` : '';
    return new RegistryError(`${label}: ${status} ${first.code}${message}`, status, first.code, first.detail);
  }
  const snippet = text.trim().split('\n')[0]?.slice(0, 200);
  return new RegistryError(`${label}: ${status} ${snippet || statusText}`.trimEnd(), status);
}

/** The whole body, refusing more than max bytes (by Content-Length, or while reading). */
async function readLimited(label: string, res: Response, max: number): Promise<Buffer> {
  const tooLarge = (): RegistryError => new RegistryError(`${label}: larger than ${max} bytes`, res.status);
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.byteLength;
    if (total > max) throw tooLarge(); // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
