import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../../src/config.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startNode, type RunningNode } from '../../src/main.js';

export interface TestNode extends RunningNode {
  dir: string;
  config: Config;
}

type Overrides = { [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K] };

/** A node on a free port with its data in a fresh temp dir; `close()` removes both. */
export async function startTestNode(overrides: Overrides = {}, dir?: string, log: Logger = silentLogger): Promise<TestNode> {
  const data = dir ?? (await mkdtemp(join(tmpdir(), 'georeg-node-')));
  const config = structuredClone(defaultConfig);
  for (const [k, v] of Object.entries(overrides)) {
    const key = k as keyof Config;
    (config as unknown as Record<string, unknown>)[key] = typeof v === 'object' && v !== null ? { ...(config[key] as object), ...v } : v;
  }
  config.listen = overrides.listen ?? '127.0.0.1:0';
  config.data = data;
  config.log = { level: 'error', access: false, ...overrides.log };
  const node = await startNode(config, log);
  return {
    ...node,
    dir: data,
    config,
    async close() {
      await node.close();
      if (!dir) await rm(data, { recursive: true, force: true });
    },
  };
}
