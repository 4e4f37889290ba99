#!/usr/bin/env node
// `npm run bench:rss`: a 1 GiB blob pushed (streamed from a generator, never held in memory)
// and pulled (curl) through a fresh georeg, sampling the node's RSS every 50 ms. Prints peak
// RSS per phase and the rates: memory must stay flat however large the blob.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths, queryString } from 'georeg/oci';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZE = Number(process.env.BIG_BLOB_MIB ?? 1024) * 1024 * 1024;
const port = Number(process.env.BENCH_PORT ?? 5310);
const data = mkdtempSync(join(tmpdir(), 'georeg-rss-'));
const node = spawn(process.execPath, [join(root, 'cli/dist/src/main.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', data], {
  env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' },
  stdio: 'inherit',
});
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);

for (let i = 0; ; i++) {
  if ((await fetch(`http://127.0.0.1:${port}${apiPaths.base()}`).catch(() => undefined))?.ok) break;
  if (i > 100) throw new Error('georeg did not start');
  await new Promise((r) => setTimeout(r, 100));
}

/** Deterministic pseudo-random 1 MiB blocks, so the digest can be computed without storing the blob. */
function* blocks() {
  const block = Buffer.alloc(1024 * 1024);
  for (let off = 0; off < SIZE; off += block.length) {
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE(((off + i) * 2654435761) >>> 0, i);
    yield block;
  }
}
const hash = createHash('sha256');
for (const b of blocks()) hash.update(b);
const digest = `sha256:${hash.digest('hex')}`;

const phase = async (name, fn) => {
  peak = rss();
  const before = peak;
  const t = performance.now();
  await fn();
  const s = (performance.now() - t) / 1000;
  console.log(`${name}: ${(SIZE / 1048576 / s).toFixed(0)} MiB/s, RSS before ${before.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`);
};

await phase(
  `push ${SIZE / 1048576} MiB (POST ?digest=)`,
  () =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `${apiPaths.uploads('rss/big')}${queryString({ digest })}`,
          headers: { 'Content-Length': SIZE },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`push: ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      const it = blocks();
      const pump = () => {
        for (let n = it.next(); !n.done; n = it.next()) if (!req.write(Buffer.from(n.value))) return req.once('drain', pump);
        req.end();
      };
      pump();
    }),
);
await phase(`pull ${SIZE / 1048576} MiB (curl)`, async () => {
  const r = spawnSync('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${port}${apiPaths.blob('rss/big', digest)}`]);
  if (r.status !== 0) throw new Error(`curl failed: ${r.stderr}`);
});
clearInterval(sampler);
node.kill('SIGTERM');
await new Promise((r) => node.once('exit', r));
rmSync(data, { recursive: true, force: true });
