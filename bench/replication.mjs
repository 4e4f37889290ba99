#!/usr/bin/env node
// `npm run bench:replication`: three regions on loopback (`georeg cluster`). Pushes N images of
// three 1 MiB layers into eu, one at a time, and measures the lag from the manifest PUT's 201 in
// eu until the tag answers in us and ap (a replicated tag appears only after its blobs and
// manifest are committed). Then replicates a 1 GiB blob and compares its rate with local pulls
// (curl from the disk, curl from the page cache, a pull that checks the digest) and sha256 alone.
// Prints a markdown summary; peak RSS of each region's node (which hosts its replicator).
// Environment: REPL_IMAGES (200), REPL_BIG_MIB (1024), REPL_REGIONS (eu,us,ap), REPL_SEPARATE=1
// (a `georeg replicate` process beside each node), BENCH_PORT (7700).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';
import { pushImage as push, sha256 as sha } from 'georeg/test-support';
import { h2Ceiling } from './h2-ceiling.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.REPL_IMAGES ?? 200);
const BIG = Number(process.env.REPL_BIG_MIB ?? 1024) * 1024 * 1024;
const base = Number(process.env.BENCH_PORT ?? 7700);
const dir = mkdtempSync(join(tmpdir(), 'georeg-replbench-'));
// REPL_SEPARATE=1: a `georeg replicate` process beside each node instead of the in-process replicator.
const separate = process.env.REPL_SEPARATE === '1';
// REPL_REGIONS: the regions, the first one pushed to (default eu,us,ap; eu,us measures one receiving region alone).
const regionList = process.env.REPL_REGIONS ?? 'eu,us,ap';
const clusterArgs = [
  'cluster',
  '--regions',
  regionList,
  '--data',
  dir,
  '--port-base',
  String(base),
  ...(separate ? ['--separate-replicators'] : []),
];
const cluster = spawn(process.execPath, [join(root, 'cli/dist/src/main.js'), ...clusterArgs], {
  env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'ignore'],
  detached: true,
});
await new Promise((resolve, reject) => {
  let out = '';
  cluster.stdout.on('data', (c) => (out += c) && out.includes('cluster ready') && resolve());
  cluster.once('exit', (code) => reject(new Error(`cluster exited ${code}`)));
});
const regions = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')).regions;
const [eu, ...others] = regions;
const pidOf = (pattern) => Number(execFileSync('pgrep', ['-f', pattern]).toString().trim().split('\n')[0]);
// What is sampled: each region's node, and with REPL_SEPARATE its replicate process.
const procs = regions.flatMap((r) => [
  { name: r.name, pid: pidOf(`serve .*${join(dir, r.name, 'registry')}`) },
  ...(separate ? [{ name: `${r.name} replicator`, pid: pidOf(`replicate --data ${join(dir, r.name, 'registry')}`) }] : []),
]);
const peak = Object.fromEntries(procs.map((p) => [p.name, 0]));
const sampler = setInterval(() => {
  for (const p of procs) {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0);
      peak[p.name] = Math.max(peak[p.name], kb / 1024);
    } catch {
      // the process has exited
    }
  }
}, 50);

const MiB = 1024 * 1024;
function send(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { 'Content-Length': body?.length ?? 0, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** Pushes an image into eu (monolithic blob uploads, then the manifest); resolves with the time the manifest PUT was answered. */
async function pushImage(repo, tag, layers) {
  await push(eu.registry, repo, tag, layers);
  return performance.now();
}
// Polls every `everyMs`: 2 ms for the lag of small images; coarser for the big blob, whose copy
// the polling would otherwise slow down (thousands of requests a second to the receiving nodes).
async function visible(r, repo, tag, deadlineMs = 120_000, everyMs = 2) {
  const until = performance.now() + deadlineMs;
  for (;;) {
    if ((await send('HEAD', `${r.registry}${apiPaths.manifest(repo, tag)}`)) === 200) return performance.now();
    if (performance.now() > until) throw new Error(`${repo}:${tag} never reached ${r.name}`);
    await new Promise((res) => setTimeout(res, everyMs));
  }
}
/** MiB/s of a pull that checks the digest as a client does (a stream into sha256), without writing it anywhere. */
function pullAndHash(url) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const h = createHash('sha256');
    request(url, (res) => {
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        h.update(c);
      });
      res.on('end', () => {
        h.digest();
        resolve(n / MiB / ((performance.now() - t) / 1000));
      });
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
/** MiB/s of sha256 over bytes in memory, on one core: the most any copy that verifies what it receives can reach. */
function sha256Rate(bytes) {
  const t = performance.now();
  createHash('sha256').update(bytes).digest();
  return bytes.length / MiB / ((performance.now() - t) / 1000);
}
/** MiB/s of the 1 GiB layer pulled by skopeo into a directory (digests checked, blobs written), timed around the whole copy. */
function skopeoPull(ref) {
  const out = mkdtempSync(join(dir, 'skopeo-'));
  const t = performance.now();
  const r = spawnSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${out}`], { encoding: 'utf8' });
  const seconds = (performance.now() - t) / 1000;
  rmSync(out, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`skopeo pull failed: ${r.error?.message ?? r.stderr}`);
  return BIG / MiB / seconds;
}
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// warm-up: the supercluster elects its JetStream leader and consumers attach
const w = await pushImage('bench/warmup', 'w', [randomBytes(1024)]);
await Promise.all(others.map((r) => visible(r, 'bench/warmup', 'w')));
console.error(`warm-up replicated after ${(performance.now() - w).toFixed(0)} ms`);

const lags = Object.fromEntries(others.map((r) => [r.name, []]));
for (let i = 0; i < N; i++) {
  const layers = [randomBytes(1 << 20), randomBytes(1 << 20), randomBytes(1 << 20)];
  const t0 = await pushImage('bench/lag', `t${i}`, layers);
  const done = await Promise.all(others.map((r) => visible(r, 'bench/lag', `t${i}`)));
  others.forEach((r, k) => lags[r.name].push(done[k] - t0));
}

const big = randomBytes(BIG);
const t0 = await pushImage('bench/big', 'v1', [big]);
const bigDone = await Promise.all(others.map((r) => visible(r, 'bench/big', 'v1', 600_000, 50)));
const bigUrl = `${eu.registry}${apiPaths.blob('bench/big', sha(big))}`;
// The copies read eu's file past the page cache (O_DIRECT), so the first pull reads it from the
// disk, as a pull right after a push does; the second one reads the page cache.
const curlPull = () =>
  Number(spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download}', bigUrl], { encoding: 'utf8' }).stdout) / MiB;
const coldPull = curlPull();
const median3 = async (f) => q([await f(), await f(), await f()], 0.5);
const warmPull = await median3(curlPull);
const verifiedPull = await median3(() => pullAndHash(bigUrl));
const clientPull = await median3(() => skopeoPull(`${eu.registry.replace(/^http:\/\//, '')}/bench/big:v1`));
const hashAlone = sha256Rate(big);
clearInterval(sampler);
process.kill(-cluster.pid, 'SIGTERM');
await new Promise((r) => cluster.once('exit', r));
rmSync(dir, { recursive: true, force: true });
const h2 = await h2Ceiling(BIG / MiB);

console.log(
  `Replication bench${separate ? ' (separate replicate processes)' : ''}, regions ${regionList}: ${N} images of 3 × 1 MiB pushed one at a time into ${eu.name}; lag until the tag answers.\n`,
);
console.log('| region | p50 lag (ms) | p99 lag (ms) | max (ms) |');
console.log('|---|---|---|---|');
for (const r of others)
  console.log(
    `| ${r.name} | ${q(lags[r.name], 0.5).toFixed(0)} | ${q(lags[r.name], 0.99).toFixed(0)} | ${Math.max(...lags[r.name]).toFixed(0)} |`,
  );
const all = Object.values(lags).flat();
console.log(`| all | ${q(all, 0.5).toFixed(0)} | ${q(all, 0.99).toFixed(0)} | ${Math.max(...all).toFixed(0)} |`);
console.log(
  `\n1 GiB blob: replicated to ${others
    .map((r, k) => {
      const rate = BIG / MiB / ((bigDone[k] - t0) / 1000);
      const pct = (local) => `${((100 * rate) / local).toFixed(0)}%`;
      return `${r.name} in ${((bigDone[k] - t0) / 1000).toFixed(1)} s (${rate.toFixed(0)} MiB/s: ${pct(clientPull)} of skopeo's local pull, ${pct(verifiedPull)} of the Node pull checking the digest, ${pct(coldPull)} of the first curl pull, ${pct(warmPull)} of the second; ${pct(h2.rate)} of Node's HTTP/2 into sha256)`;
    })
    .join(', ')}.`,
);
console.log(
  `Local pulls (curl) from ${eu.name} after the copies: first (from the disk) ${coldPull.toFixed(0)} MiB/s, second (page cache) ${warmPull.toFixed(0)} MiB/s; the second again with the digest checked as a client does (Node, into sha256) ${verifiedPull.toFixed(0)} MiB/s; skopeo pulling the image into a directory ${clientPull.toFixed(0)} MiB/s. sha256 alone on one core: ${hashAlone.toFixed(0)} MiB/s. Node's HTTP/2 over loopback into sha256, between two processes and with nothing else running: ${h2.rate.toFixed(0)} MiB/s, the receiver at ${h2.cpuPerGiB.toFixed(2)} CPU-s per GiB.`,
);
const whose = separate ? 'node and of its replicate process' : 'node (with its replicator)';
console.log(`Peak RSS per region's ${whose}: ${procs.map((p) => `${p.name} ${peak[p.name].toFixed(0)} MiB`).join(', ')}.`);
