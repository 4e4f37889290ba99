/**
 * A registry spoken to over its HTTP API, for tests of every area and for e2e: a tiny HTTP
 * client, digests, blob and image pushes. Of georeg's sources only georeg/oci, the API paths
 * a client shares with the node (e2e stays a black box).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { apiPaths, queryString } from 'georeg/oci';

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = unknown>(): T;
  header(name: string): string | undefined;
}

export interface ReqOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string;
}

/**
 * A tiny HTTP client for tests: whole bodies, no redirects, no surprises. The
 * path goes out exactly as written (no URL normalisation of `..` or `//`), so
 * tests can send hostile paths.
 */
export function http(method: string, url: string, opts: ReqOptions = {}): Promise<Res> {
  const m = /^http:\/\/([^/:]+|\[[^\]]+\]):(\d+)(\/.*)?$/.exec(url);
  if (!m) throw new Error(`http(): expected http://HOST:PORT/PATH, got ${url}`);
  const [, host, port, path = '/'] = m;
  return new Promise((resolve, reject) => {
    const req = request({ host: host?.replace(/^\[|\]$/g, ''), port: Number(port), path, method, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
          header: (n) => {
            const v = res.headers[n.toLowerCase()];
            return Array.isArray(v) ? v[0] : v;
          },
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** `sha256:<hex>` of the bytes (a string as UTF-8). */
export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Push a blob monolithically (POST ?digest=); returns its digest. */
export async function pushBlob(base: string, repo: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  const res = await http('POST', `${base}${apiPaths.uploads(repo)}${queryString({ digest })}`, {
    body: data,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (res.status !== 201) throw new Error(`push blob: ${res.status} ${res.body.toString()}`);
  return digest;
}

export interface PushedImage {
  digest: string;
  manifest: Buffer;
  config: string;
  layers: string[];
}

/**
 * Push a small OCI image (config + layers) and its manifest under `ref`; `extra` fields are merged into the manifest.
 * `base` may name two registries, one for the blobs and one for the manifest (a push split across regions).
 */
export async function pushImage(
  base: string | { blobs: string; manifest: string },
  repo: string,
  ref: string,
  layers: (Buffer | string)[] = ['layer-' + Math.random()],
  extra: Record<string, unknown> = {},
): Promise<PushedImage> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const to = typeof base === 'string' ? { blobs: base, manifest: base } : base;
  const configDigest = await pushBlob(to.blobs, repo, config);
  const layerDigests: string[] = [];
  for (const l of layers) layerDigests.push(await pushBlob(to.blobs, repo, l));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
      layers: layers.map((l, i) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: layerDigests[i],
        size: Buffer.byteLength(l),
      })),
      ...extra,
    }),
  );
  const res = await http('PUT', `${to.manifest}${apiPaths.manifest(repo, ref)}`, {
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${res.body.toString()}`);
  return { digest: sha256(manifest), manifest, config: configDigest, layers: layerDigests };
}
