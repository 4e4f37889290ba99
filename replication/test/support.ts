import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { defaultConfig, silentLogger, startNode, type Config, type RunningNode } from 'georeg/nodes';

export interface Node extends RunningNode {
  dir: string;
}

/** A registry node on a free port, data in a temp dir removed by close(). */
export async function node(overrides: { region?: string; nats?: Partial<Config['nats']>; storage?: Partial<Config['storage']> } = {}): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), 'georeg-repl-'));
  const base = structuredClone(defaultConfig);
  const config: Config = {
    ...base,
    region: overrides.region ?? base.region,
    nats: { ...base.nats, ...overrides.nats },
    storage: { ...base.storage, ...overrides.storage },
    listen: '127.0.0.1:0',
    data: dir,
    log: { level: 'error', access: false },
  };
  const n = await startNode(config, silentLogger);
  return {
    ...n,
    dir,
    async close() {
      await n.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Push a blob through the OCI API (monolithic POST). */
export async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(data) });
  if (res.status !== 201) throw new Error(`push blob: ${res.status} ${await res.text()}`);
  return digest;
}

/** Push a one-layer OCI image under `tag`; returns the manifest digest and bytes. */
export async function pushImage(base: string, repo: string, tag: string, layer: Buffer): Promise<{ digest: string; manifest: Buffer; layer: string }> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const configDigest = await pushBlob(base, repo, config);
  const layerDigest = await pushBlob(base, repo, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: new Uint8Array(manifest),
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${await res.text()}`);
  return { digest: sha256(manifest), manifest, layer: layerDigest };
}
