// Seeding for `npm run bench:scale` (bench/scale.mjs): a data directory holding N repositories of
// 10 tags each, written through the metadata store directly (filling 100,000 repositories over
// HTTP would take most of an hour). One real image is pushed through a real node first; every
// repository links its blobs and its manifest, as a push would have, and each tag carries a
// clock, as a region with events on stamps it.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningUrl, pushImage } from 'georeg/test-support';
import { LevelMetaStore } from '../nodes/dist/src/meta/level-store.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TAGS = 10;
const WRITERS = 32;

/** The name of repository `i`: spread over 100 namespaces, as teams' repositories are. */
export const repoName = (i) => `team-${i % 100}/app-${i}`;

/** `georeg serve` on `data`, with `env`; resolves with its URL, its pid, its log and a stop function. */
export async function serve(data, env = {}) {
  const child = spawn(process.execPath, [join(root, 'cli/dist/src/main.js'), 'serve', '--data', data, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => (log += c));
  const url = await new Promise((resolve, reject) => {
    child.stderr.on('data', () => {
      const u = listeningUrl(log);
      if (u) resolve(u);
    });
    child.once('exit', (code) => reject(new Error(`georeg serve exited ${code}: ${log.slice(-2000)}`)));
  });
  return {
    url,
    pid: child.pid,
    /** The first JSON log line whose msg is `msg`, once logged. */
    logged: (msg) =>
      new Promise((resolve) => {
        const look = () => {
          const line = log.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
          if (!line) return;
          child.stderr.off('data', look);
          resolve(JSON.parse(line));
        };
        child.stderr.on('data', look);
        look();
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Push one image through a real node on `data`; returns its manifest digest. */
export async function pushOne(data, repo, layer) {
  const node = await serve(data);
  try {
    return (await pushImage(node.url, repo, 'v1', [layer])).digest;
  } finally {
    await node.stop();
  }
}

/**
 * Link the image `from` holds (pushed by pushOne) into each repository `names` lists, tagged
 * `tags` (the first with the manifest put, the rest as tag puts), stamped from `wallMs` in `region`.
 */
export async function seed(data, { from, digest, names, tags, wallMs, region }) {
  const meta = await LevelMetaStore.open(join(data, 'meta'));
  try {
    const record = await meta.getManifest(from, digest);
    const links = [];
    for await (const l of meta.listBlobLinks(from)) links.push(l);
    let next = 0;
    const writer = async () => {
      for (let i = next++; i < names.length; i = next++) {
        const repo = names[i];
        const clock = (k) => ({ tagClock: { wallMs: wallMs + i, logical: k, region } });
        for (const { digest: d, link } of links) await meta.linkBlob(repo, d, link);
        await meta.putManifest(repo, record, tags[0], clock(0));
        for (let k = 1; k < tags.length; k++) await meta.putTag(repo, tags[k], digest, clock(k));
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
  } finally {
    await meta.close();
  }
}
