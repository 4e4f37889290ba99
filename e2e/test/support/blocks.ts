import { createHash } from 'node:crypto';
import { apiPaths, queryString } from 'georeg/oci';
import { sha256 } from 'georeg/test-support';
import { send } from './spawn.js';

/**
 * A deterministic blob of `size` bytes (a multiple of 1 MiB) as 1 MiB blocks,
 * generated as they are read: tests push and check blobs far larger than they
 * would want to hold in memory. The block buffer is reused from one to the next.
 */
export function* blocks(size: number): Generator<Buffer> {
  const block = Buffer.alloc(1024 * 1024);
  for (let off = 0; off < size; off += block.length) {
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE(((off + i) * 2654435761) >>> 0, i);
    yield block;
  }
}

/** The sha256 digest of `blocks(size)`. */
export function blocksDigest(size: number): string {
  const hash = createHash('sha256');
  for (const b of blocks(size)) hash.update(b);
  return `sha256:${hash.digest('hex')}`;
}

/** Push `blocks(size)` as the one layer of an image `repo:tag` (streamed, never held); returns the layer's digest. */
export async function pushBlocksImage(base: string, repo: string, tag: string, size: number): Promise<string> {
  const digest = blocksDigest(size);
  const ok = (status: number, what: string): void => {
    if (status !== 201) throw new Error(`${what}: HTTP ${status}`);
  };
  ok(await send('POST', `${base}${apiPaths.uploads(repo)}${queryString({ digest })}`, blocks(size), { 'Content-Length': size }), 'layer');
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const configDigest = sha256(config);
  ok(
    await send('POST', `${base}${apiPaths.uploads(repo)}${queryString({ digest: configDigest })}`, config, {
      'Content-Length': config.length,
    }),
    'config',
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size }],
    }),
  );
  ok(
    await send('PUT', `${base}${apiPaths.manifest(repo, tag)}`, manifest, {
      'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      'Content-Length': manifest.length,
    }),
    'manifest',
  );
  return digest;
}

/** The sha256 digest of what a GET of `url` streams. */
export async function streamedDigest(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const hash = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}
