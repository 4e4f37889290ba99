import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  apiPaths,
  queryString,
  digestOf,
  firstError,
  isDigest,
  isTag,
  MediaTypes,
  OciError,
  parseName,
  type Descriptor,
  type Digest,
} from 'georeg/oci';
import { CliError } from './command.js';
import { RegistryError } from './registry-error.js';
import { parseChallenge, TokenAuth } from './token-auth.js';
import { LOGIN_HINT, type Credentials } from './credentials.js';
import { unlockHint } from './locks.js';
import type { Attributes, ManifestView, RepositoryView, TagView } from 'georeg/nodes';

/** What `getManifest` and `headManifest` accept unless told otherwise. */
export const MANIFEST_TYPES: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
];

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** georeg's own API documents (a gc report lists every blob it deletes). */
const MAX_API_BYTES = 64 * 1024 * 1024;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** A registry as written: `HOST[:PORT]`, the host a name or a bracketed IPv6 address. */
const HOST_PORT = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

// Declared in its own module, which token-auth.ts throws from too (no import cycle).
export { RegistryError };

export interface ImageRef {
  /** `http://host:port` or `https://host`. */
  base: string;
  /** `host[:port]` as written. */
  registry: string;
  /** Named without a scheme on a loopback host: HTTPS first, then plain HTTP (RegistryClientOptions.httpFallback). */
  httpFallback?: boolean;
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
  if (!HOST_PORT.test(registry)) bad(`bad registry host ${JSON.stringify(registry)}`);
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
  return {
    base: baseUrl(registry, scheme?.[1]),
    registry,
    repository: name,
    ...(tag && { tag }),
    ...(digest && { digest }),
    ...(!scheme && isLoopback(registry) && { httpFallback: true }),
  };
}

const isLoopback = (registry: string): boolean => ['localhost', '127.0.0.1', '[::1]'].includes(registry.replace(/:\d+$/, ''));

/** `http(s)://HOST[:PORT]` of a registry written `HOST[:PORT]`: HTTPS unless `scheme` says otherwise (a loopback host falls back to plain HTTP: httpFallback). */
function baseUrl(registry: string, scheme?: string): string {
  return `${scheme ?? 'https'}://${registry}`;
}

/** A registry given as `HOST[:PORT]` or `http(s)://HOST[:PORT]` (what `georeg login` takes), as its base URL and its host. */
export function parseRegistry(s: string): { base: string; host: string; httpFallback?: boolean } {
  const scheme = /^(https?):\/\//.exec(s);
  const registry = (scheme ? s.slice(scheme[0].length) : s).replace(/\/+$/, '');
  if (!HOST_PORT.test(registry)) throw new CliError(`bad registry ${JSON.stringify(s)}: expected HOST[:PORT] or http(s)://HOST[:PORT]`);
  const base = baseUrl(registry, scheme?.[1]);
  return { base, host: new URL(base).host, ...(!scheme && isLoopback(registry) && { httpFallback: true }) };
}

/** What ACR's metadata API is asked about: a repository, one of its tags (`tag`), or one of its manifests (`digest`, whatever `tag` says). */
export type AcrTarget = Pick<ImageRef, 'repository' | 'tag' | 'digest'>;

/** ACR's properties of a repository, a tag or a manifest, as its metadata API answers them. */
export type AcrProperties =
  RepositoryView | { registry: string; imageName: string; tag: TagView } | { registry: string; imageName: string; manifest: ManifestView };

function acrPath({ repository, tag, digest }: AcrTarget): string {
  if (digest !== undefined) return apiPaths.acrManifest(repository, digest);
  return tag === undefined ? apiPaths.acrRepository(repository) : apiPaths.acrTag(repository, tag);
}

/** What a HEAD tells of a manifest. */
export type ManifestHead = Pick<Descriptor, 'digest' | 'mediaType' | 'size'>;

export interface Manifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export interface RegistryClientOptions {
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** Traded for a token when the registry challenges (the Docker token flow). */
  credentials?: Credentials;
  /** Send `credentials` as Basic with every request instead (georeg's admin API takes them so). */
  basic?: boolean;
  /** Trust this CA (PEM) for HTTPS: Node's fetch takes none, and NODE_EXTRA_CA_CERTS works only from process start. */
  ca?: string | Buffer;
  /** Give up on an exchange (answer and body) after this long; on a blob's upload, after this long without progress. */
  timeoutMs?: number;
  /**
   * The registry was named without a scheme on a loopback host: `base` is HTTPS, and a registry
   * that answers TLS with plain HTTP is used over plain HTTP from then on (as Docker does for
   * localhost).
   */
  httpFallback?: boolean;
}

/** How requests go out: fetch, or node:http(s) when a CA is to be trusted. */
type Transport = (
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: Buffer; signal?: AbortSignal },
) => Promise<Response>;

/** A client for the OCI Distribution API of one registry, and for georeg's own API (/georeg/v1). */
export class RegistryClient {
  #base: string;
  #auth: TokenAuth;
  #httpFallback: boolean;
  readonly #transport: Transport;

  constructor(
    base: string,
    private readonly options: RegistryClientOptions = {},
  ) {
    this.#base = base.replace(/\/+$/, '');
    this.#httpFallback = options.httpFallback === true && this.#base.startsWith('https://');
    this.#transport =
      options.ca === undefined
        ? (url, init) => fetch(url, { ...init, body: init.body as BodyInit | undefined })
        : transportTrusting(options.ca);
    this.#auth = this.#tokenAuth();
  }

  /** `http(s)://HOST[:PORT]` of the registry. */
  get base(): string {
    return this.#base;
  }

  #tokenAuth(): TokenAuth {
    return new TokenAuth(this.options.credentials, this.#base, (url, headers) => this.#transport(url, { method: 'GET', headers }));
  }

  /**
   * A call to georeg's JSON API: `body` is sent as JSON (a string as it is). Returns the parsed
   * answer (undefined when it has none); an error answer is a RegistryError like any other.
   */
  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const res = await this.request(method, path, [200, 201, 202, 204], payload ? { 'Content-Type': 'application/json' } : {}, payload);
    const label = `${method} ${new URL(path, this.base + '/').pathname}`;
    const text = (await readLimited(label, res, MAX_API_BYTES)).toString('utf8');
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new RegistryError(`${label}: the answer is not JSON`, res.status);
    }
  }

  /** A georeg API document (e.g. /georeg/v1/trust/policy); undefined when the registry does not answer one, or cannot be reached. */
  async getJson<T>(path: string): Promise<T | undefined> {
    return this.api<T>('GET', path).catch(() => undefined);
  }

  async getManifest(repo: string, ref: string, accept: readonly string[] = MANIFEST_TYPES): Promise<Manifest> {
    const path = apiPaths.manifest(repo, ref);
    const res = await this.request('GET', path, [200], { Accept: accept.join(', ') });
    const bytes = await readLimited(`GET ${path}`, res, MAX_MANIFEST_BYTES);
    const digest = digestOf(bytes);
    const claimed = res.headers.get('docker-content-digest') ?? (SHA256.test(ref) ? ref : digest);
    if (claimed !== digest) throw new RegistryError(`GET ${path}: the manifest's digest is ${digest}, not ${claimed}`);
    return { digest, mediaType: contentType(res) ?? documentMediaType(bytes), bytes };
  }

  /** The manifest's digest, media type and size; undefined when the registry does not have it. */
  async headManifest(repo: string, ref: string, accept: readonly string[] = MANIFEST_TYPES): Promise<ManifestHead | undefined> {
    const path = apiPaths.manifest(repo, ref);
    const res = await this.exchange('HEAD', path, [200, 404], { Accept: accept.join(', ') });
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest') ?? (SHA256.test(ref) ? ref : undefined);
    if (!digest) throw new RegistryError(`HEAD ${path}: no Docker-Content-Digest in the answer`, res.status);
    if (!isDigest(digest)) throw new RegistryError(`HEAD ${path}: malformed Docker-Content-Digest ${JSON.stringify(digest)}`, res.status);
    return { digest, mediaType: contentType(res) ?? '', size: Number(res.headers.get('content-length') ?? 0) };
  }

  /** Stores a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const path = apiPaths.manifest(repo, ref);
    const res = await this.exchange('PUT', path, [201], { 'Content-Type': mediaType }, bytes);
    const digest = digestOf(bytes);
    const stored = res.headers.get('docker-content-digest') ?? digest;
    if (stored !== digest) throw new RegistryError(`PUT ${path}: the registry stored ${stored}, expected ${digest}`, res.status);
    return stored;
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.exchange('HEAD', apiPaths.blob(repo, digest), [200, 404]);
    return res.status === 200;
  }

  /** A small blob, read whole: refused when larger than maxBytes, verified against its digest. */
  async getBlob(repo: string, digest: string, maxBytes: number): Promise<Buffer> {
    const path = apiPaths.blob(repo, digest);
    const bytes = await readLimited(`GET ${path}`, await this.request('GET', path, [200]), maxBytes);
    if (digestOf(bytes) !== digest) throw new RegistryError(`GET ${path}: the content does not match its digest`);
    return bytes;
  }

  /**
   * Uploads a blob unless the repository has it: POST for a session, then one streamed PUT of
   * `size` bytes from `open()`. onBytes counts the bytes as they are sent.
   */
  async pushBlob(
    repo: string,
    digest: string,
    size: number,
    open: () => Readable,
    onBytes?: (n: number) => void,
  ): Promise<'pushed' | 'skipped'> {
    if (await this.blobExists(repo, digest)) return 'skipped';
    const uploads = apiPaths.uploads(repo);
    const started = await this.exchange('POST', uploads, [202]);
    const location = started.headers.get('location');
    if (!location) throw new RegistryError(`POST ${uploads}: no Location in the answer`, started.status);
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
      const headers = { ...this.options.headers, ...this.#authorization(), 'Content-Type': MediaTypes.octetStream, 'Content-Length': size };
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        { method: 'PUT', headers, ...(this.options.ca !== undefined && { ca: this.options.ca }) },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text = (text + chunk).slice(0, 4096)));
          res.on('end', () => {
            if (res.statusCode === 201) return resolve();
            reject(registryError(label, res.statusCode ?? 0, res.statusMessage ?? '', text));
            req.destroy();
          });
        },
      );
      // A blob takes as long as it takes: what is bounded is a stall (nothing sent or received for timeoutMs).
      const ms = this.options.timeoutMs;
      if (ms !== undefined)
        req.setTimeout(ms, () => req.destroy(new Error(`nothing went through for ${ms / 1000} s (--timeout SECONDS waits longer)`)));
      let readError: Error | undefined;
      source.once('error', (e) => (readError = e));
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          onBytes?.(chunk.length);
          done(null, chunk);
        },
      });
      pipeline(source, count, req).catch((e: Error) =>
        reject(
          readError ??
            new RegistryError(`${label}: cannot reach ${this.base}: ${e.message}`, undefined, undefined, undefined, { cause: e }),
        ),
      );
    });
  }

  /** Uploads a small in-memory blob (unless present). */
  async pushBytes(repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    await this.pushBlob(repo, digest, bytes.length, () => Readable.from([bytes]));
    return { digest, size: bytes.length };
  }

  /** The descriptors of the manifests whose subject is `digest`, optionally of one artifact type. */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    const path = `${apiPaths.referrers(repo, digest)}${queryString({ artifactType })}`;
    return this.pages<{ manifests?: Descriptor[] }, Descriptor>(path, (p) => p.manifests ?? []);
  }

  /** The properties of a repository, a tag or a manifest as ACR's metadata API (`/acr/v1`) answers them. */
  async acrProperties(target: AcrTarget): Promise<AcrProperties> {
    return this.api<AcrProperties>('GET', acrPath(target));
  }

  /** Sets some changeable attributes (locks) of a repository, a tag or a manifest (a PATCH of those only); returns its properties. */
  async updateAttributes(target: AcrTarget, change: Partial<Attributes>): Promise<AcrProperties> {
    return this.api<AcrProperties>('PATCH', acrPath(target), change);
  }

  /** All tags of a repository, following `Link` pagination (pageSize asks for pages of that many). */
  async listTags(repo: string, pageSize?: number): Promise<string[]> {
    const path = `${apiPaths.tags(repo)}${queryString({ n: pageSize })}`;
    return this.pages<{ tags?: string[] | null }, string>(path, (p) => p.tags ?? []);
  }

  /** GETs a JSON listing and the pages its `Link: <...>; rel="next"` headers lead to. */
  private async pages<P, T>(first: string, items: (page: P) => T[]): Promise<T[]> {
    const all: T[] = [];
    for (let next: string | undefined = first; next !== undefined;) {
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

  /** The Authorization header: Basic credentials when told so, else the token obtained, if any. */
  #authorization(): Record<string, string> {
    const c = this.options.credentials;
    if (this.options.basic && c) return { Authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` };
    return this.#auth.header();
  }

  /** One request; an answer whose status is not in `ok` becomes a RegistryError. `target` is a path or a full URL. */
  private async request(
    method: string,
    target: string,
    ok: number[],
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Response> {
    const url = new URL(target, this.base + '/');
    const label = `${method} ${url.pathname}`;
    const signal = this.options.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.options.timeoutMs);
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await this.#transport(url, {
          method,
          headers: { ...this.options.headers, ...this.#authorization(), ...headers },
          body,
          signal,
        });
      } catch (e) {
        const cause = (e as Error).cause instanceof Error ? ((e as Error).cause as Error) : (e as Error);
        // Requests in flight at once all meet the plain-HTTP answer: the first switches, every one retries.
        const switched = this.#base.startsWith('http:');
        if ((this.#httpFallback || switched) && url.protocol === 'https:' && !/^https?:/.test(target) && speaksPlainHttp(cause)) {
          if (!switched) {
            this.#base = this.#base.replace(/^https:/, 'http:');
            this.#auth = this.#tokenAuth();
          }
          this.#httpFallback = false;
          return this.request(method, target, ok, headers, body);
        }
        if (signal?.aborted && this.options.timeoutMs !== undefined)
          throw new RegistryError(
            `${label}: ${this.base} did not answer within ${this.options.timeoutMs / 1000} s (--timeout SECONDS waits longer)`,
            undefined,
            undefined,
            undefined,
            { cause },
          );
        throw new RegistryError(`${label}: cannot reach ${this.base}: ${explain(cause, url)}`, undefined, undefined, undefined, { cause });
      }
      // A token challenge (unless the credentials go as Basic): get a token for what it asks, and try once more.
      if (res.status !== 401 || attempt > 0 || this.options.basic || !(await this.#auth.answer(res.headers.get('www-authenticate')))) break;
      await res.body?.cancel();
    }
    if (ok.includes(res.status)) return res;
    const err = registryError(label, res.status, res.statusText, (await res.text()).slice(0, 4096));
    if (res.status === 401) err.message += this.#unauthorized(res.headers.get('www-authenticate'));
    if (res.status === 423) err.message += unlockHint(this.#registryName(), err.detail);
    throw err;
  }

  /** What to do about a 401: log in, or get the access the challenge names granted. */
  #unauthorized(challenge: string | null): string {
    const c = this.options.credentials;
    if (!c) return ` (this registry wants credentials: ${LOGIN_HINT})`;
    const params = parseChallenge(challenge);
    const scope = /^repository:(.+):([a-z_*,]+)$/.exec(params?.scope ?? '');
    if (params?.error !== 'insufficient_scope' || !scope) return '';
    return ` (${c.username} is not granted ${scope[2]} on ${scope[1]}: an administrator grants it with a role or a token scope, see \`georeg user --help\` and \`georeg token --help\`)`;
  }

  /** The registry as a reference names it: `HOST[:PORT]`, with `http://` where plain HTTP is not implied (a loopback host). */
  #registryName(): string {
    const url = new URL(this.#base);
    return url.protocol === 'https:' || isLoopback(url.host) ? url.host : this.#base;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Requests over node:http(s), trusting `ca` for HTTPS, answered as fetch answers: redirects
 * followed (at most 20; Authorization dropped for another origin; 303, and 301/302 after a POST,
 * become a GET without body), the body a stream, `url` the last URL asked.
 */
/** Certificate errors (Node's codes) that mean the registry's CA is not trusted here. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** Whether a TLS handshake failed because the server answered in plain HTTP. */
function speaksPlainHttp(cause: Error): boolean {
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(`${code} ${cause.message}`);
}

/** Why a request got no answer, with what to do where the cause is known. */
function explain(cause: Error, url: URL): string {
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  if (UNTRUSTED.has(code))
    return `the registry's certificate is not signed by a CA this machine trusts (${code}): pass --ca CA.pem (the CA that signed it), or set NODE_EXTRA_CA_CERTS`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the registry's certificate is not for ${url.hostname} (${cause.message}): use the name it was issued for`;
  if (code === 'CERT_HAS_EXPIRED') return "the registry's certificate has expired: renew it";
  if (url.protocol === 'http:' && /other side closed|socket hang up|ECONNRESET|HPE_INVALID/i.test(`${code} ${cause.message}`))
    return `${cause.message} (does it speak HTTPS? give https://${url.host})`;
  if (url.protocol === 'https:' && (code === 'EPROTO' || speaksPlainHttp(cause)))
    return `the registry answers in plain HTTP, not HTTPS: give http://${url.host}`;
  return cause.message;
}

function transportTrusting(ca: string | Buffer): Transport {
  const once = (url: URL, init: Parameters<Transport>[1]) =>
    new Promise<{ status: number; statusText: string; headers: Headers; body: Readable }>((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        { method: init.method, headers: init.headers, signal: init.signal, ...(secure && { ca }) },
        (res) => {
          const headers = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
            headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers, body: res });
        },
      );
      req.on('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
      req.end(init.body);
    });
  return async (first, init) => {
    let url = first;
    let { method, headers, body } = init;
    for (let hops = 0; ; hops++) {
      const res = await once(url, { method, headers, body, signal: init.signal });
      const location = res.headers.get('location');
      if (REDIRECTS.has(res.status) && location !== null && hops < 20) {
        res.body.resume();
        const next = new URL(location, url);
        if (next.origin !== url.origin)
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)));
        }
        url = next;
        continue;
      }
      const empty = method === 'HEAD' || [204, 205, 304].includes(res.status);
      if (empty) res.body.resume();
      const response = new Response(empty ? null : (Readable.toWeb(res.body) as unknown as ReadableStream<Uint8Array>), {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
      Object.defineProperty(response, 'url', { value: url.href });
      return response;
    }
  };
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
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  const first = firstError(body);
  if (first) {
    const message = first.message === undefined ? '' : ` ${first.message}`;
    // From georeg (or any registry answering a code of its table at the same status), `cause` is that typed OciError.
    const cause = OciError.fromBody(status, body);
    return new RegistryError(`${label}: ${status} ${first.code}${message}`, status, first.code, first.detail, cause && { cause });
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
