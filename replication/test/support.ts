import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, silentLogger, startNode, type Config, type RunningNode } from 'georeg/nodes';
import * as shared from 'georeg/test-support';

export interface Node extends RunningNode {
  dir: string;
}

/** A registry node on a free port, data in a temp dir removed by close(). */
export async function node(
  overrides: {
    region?: string;
    nats?: Partial<Config['nats']>;
    storage?: Partial<Config['storage']>;
    network?: Partial<Config['network']>;
    replication?: Partial<Config['replication']>;
    meta?: Partial<Config['meta']>;
    /** A data directory to share (removed by whoever made it), else a temp one of its own. */
    data?: string;
  } = {},
): Promise<Node> {
  const dir = overrides.data ?? (await mkdtemp(join(tmpdir(), 'georeg-repl-')));
  const base = structuredClone(defaultConfig);
  const config: Config = {
    ...base,
    region: overrides.region ?? base.region,
    nats: { ...base.nats, ...overrides.nats },
    storage: { ...base.storage, ...overrides.storage },
    network: { ...base.network, ...overrides.network },
    replication: { ...base.replication, ...overrides.replication },
    meta: { ...base.meta, ...overrides.meta },
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
      if (overrides.data === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

// Digests and pushes are shared with the other areas' tests and e2e.
export { pushBlob, sha256 } from 'georeg/test-support';

/** Push a one-layer OCI image under `tag`; returns the manifest digest and bytes, and the layer's digest. */
export async function pushImage(
  base: string,
  repo: string,
  tag: string,
  layer: Buffer,
): Promise<{ digest: string; manifest: Buffer; layer: string }> {
  const { digest, manifest, layers } = await shared.pushImage(base, repo, tag, [layer]);
  return { digest, manifest, layer: layers[0] as string };
}
