#!/usr/bin/env node
// `npm run bench:scale`: what replication and the registry cost as content grows (issue 21).
// For each size N (repositories of 10 tags each): region a's data directory is seeded
// (scale-seed.mjs), copied as region b's, then 100 repositories change in a only (a new image,
// whose blobs b lacks, and a new tag). Two real `georeg serve` processes run on them: a serves
// replication over gRPC, b serves its region store socket (replication.external), and this process
// runs anti-entropy passes into b through them, as `georeg replicate` does: the repairing pass,
// then a pass that finds nothing different (wall time and CPU seconds of a, of b and of this
// process). Then, against a: first-page latency of tags/list, manifest GET by tag and a catalog
// page; a GC dry run (time, and the node's peak RSS); the node's RSS.
// Then the burst: `georeg cluster` of three regions, 1,000 small images pushed into the first by
// 16 concurrent pushers into one repository; the lag until each is in the other two regions.
// Flags: --sizes=1000,100000 (--sizes= for none) --changed=100 --burst=1000 --pushers=16
// --requests=200 --cluster="--nodes-per-region 2 --meta postgres" (more `georeg cluster` arguments
// for the burst: there a region of two nodes applies the repository's events in order between them).
// Results: markdown on stdout, bench-results/scale-<stamp>.json.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';
import { pushImage, startNatsServer } from 'georeg/test-support';
import { antiEntropy } from '../replication/dist/src/anti-entropy.js';
import { Copier } from '../replication/dist/src/copier.js';
import { PeerClient } from '../replication/dist/src/peer-client.js';
import { RemoteRegionStore } from '../replication/dist/src/remote-store.js';
import { TAGS, pushOne, repoName, seed, serve } from './scale-seed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
const SIZES = arg('sizes', '1000,100000').split(',').filter(Boolean).map(Number);
const CHANGED = Number(arg('changed', 100));
const BURST = Number(arg('burst', 1000));
const PUSHERS = Number(arg('pushers', 16));
const REQUESTS = Number(arg('requests', 200));
const CLUSTER = arg('cluster', '').split(' ').filter(Boolean);
const tags = Array.from({ length: TAGS }, (_, k) => `v${k}`);
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const memory = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
};

function get(url, method = 'GET', headers = {}) {
  return new Promise((resolve, reject) => {
    request(url, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    })
      .on('error', reject)
      .end();
  });
}

/** p50 and p99 ms of `REQUESTS` GETs of `url`, which must answer 200. */
async function latency(url, headers) {
  const ms = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    const status = await get(url, 'GET', headers);
    ms.push(performance.now() - t);
    if (status !== 200) throw new Error(`${url}: ${status}`);
  }
  return { p50: q(ms, 0.5), p99: q(ms, 0.99) };
}

/** One anti-entropy pass into b from a: wall seconds, CPU seconds of a, b and this process, and what it did. */
async function timedPass(a, b, store, copier, peer) {
  const before = [cpuSeconds(a.pid), cpuSeconds(b.pid), selfCpu()];
  const t = performance.now();
  const pass = await antiEntropy(store, copier, peer);
  const wall = (performance.now() - t) / 1000;
  const [ca, cb, cs] = [cpuSeconds(a.pid) - before[0], cpuSeconds(b.pid) - before[1], selfCpu() - before[2]];
  if (pass.failed.length) throw new Error(`pass failed: ${pass.failed.map((f) => `${f.what}: ${f.err.message}`).join('; ')}`);
  return { wall, cpuServing: ca, cpuReceivingNode: cb, cpuReplicator: cs, repairs: pass.repairs, compared: pass.compared, tree: pass.tree };
}

async function scaleRun(n) {
  const dir = mkdtempSync(join(tmpdir(), `georeg-scale-${n}-`));
  const [dataA, dataB] = [join(dir, 'a'), join(dir, 'b')];
  try {
    let t = performance.now();
    const digest = await pushOne(dataA, 'seed/base', 'the shared layer');
    const names = Array.from({ length: n }, (_, i) => repoName(i));
    await seed(dataA, { from: 'seed/base', digest, names, tags, wallMs: 1_700_000_000_000, region: 'a' });
    const seedSeconds = (performance.now() - t) / 1000;
    console.error(`${n} repositories, ${n * TAGS} tags seeded in ${seedSeconds.toFixed(0)} s`);
    cpSync(dataA, dataB, { recursive: true });
    // What b lacks: a new image (new blobs) tagged in CHANGED repositories spread over the key space.
    const fresh = await pushOne(dataA, 'seed/changed', randomBytes(4096));
    const changed = Array.from({ length: Math.min(CHANGED, n) }, (_, i) => repoName(Math.floor((i * n) / Math.min(CHANGED, n))));
    await seed(dataA, { from: 'seed/changed', digest: fresh, names: changed, tags: ['changed'], wallMs: 1_800_000_000_000, region: 'a' });

    // b's events (none here: nothing is pushed into it) go to a NATS server of this run's own.
    mkdirSync(join(dir, 'nats'));
    const nats = await startNatsServer(['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(dir, 'nats')], join(dir, 'nats'));
    const a = await serve(dataA, { GEOREG_REGION: 'a', GEOREG_REPLICATION_LISTEN: '127.0.0.1:0' });
    const grpcPort = (await a.logged('replication service listening')).port;
    const b = await serve(dataB, {
      GEOREG_REGION: 'b',
      GEOREG_NATS_URL: `nats://127.0.0.1:${nats.port}`,
      GEOREG_REPLICATION_EXTERNAL: 'true',
      GEOREG_REPLICATION_PEERS: `a=127.0.0.1:${grpcPort}`,
    });
    const store = new RemoteRegionStore((await b.logged('region store listening for a replicate process')).socket);
    const peer = new PeerClient('a', `127.0.0.1:${grpcPort}`);
    const copier = new Copier(store);
    try {
      const startRss = memory(a.pid).rss;
      const repair = await timedPass(a, b, store, copier, peer);
      const noop = await timedPass(a, b, store, copier, peer);
      if (repair.compared !== Math.min(CHANGED, n) + 1 || noop.compared !== 0 || noop.repairs !== 0)
        throw new Error(
          `anti-entropy listed ${repair.compared} then ${noop.compared} repositories (expected ${Math.min(CHANGED, n) + 1}, then 0)`,
        );
      const middle = repoName(Math.floor(n / 2));
      const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
      const listings = {
        tagsFirstPage: await latency(`${a.url}${apiPaths.tags(middle)}?n=100`),
        manifestByTag: await latency(`${a.url}${apiPaths.manifest(middle, 'v5')}`, accept),
        catalogPage: await latency(`${a.url}${apiPaths.catalog()}?n=100&last=${encodeURIComponent(middle)}`),
      };
      const rss = memory(a.pid).rss;
      t = performance.now();
      const gcStatus = await get(`${a.url}${apiPaths.gc()}?dryRun=true`, 'POST');
      const gc = { seconds: (performance.now() - t) / 1000, status: gcStatus, peakRss: memory(a.pid).peak };
      return { repositories: n, tags: n * TAGS, seedSeconds, repair, noop, listings, rss: { atStart: startRss, afterListings: rss }, gc };
    } finally {
      peer.close();
      store.close();
      await b.stop();
      await a.stop();
      nats.child.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** BURST images pushed into the first of three regions by PUSHERS at once; the lag until each answers in the other two. */
async function burst() {
  const dir = mkdtempSync(join(tmpdir(), 'georeg-burst-'));
  const cluster = spawn(
    process.execPath,
    [join(root, 'cli/dist/src/main.js'), 'cluster', '--regions', 'eu,us,ap', '--data', dir, '--port-base', '7750', ...CLUSTER],
    {
      env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    },
  );
  try {
    await new Promise((resolve, reject) => {
      let out = '';
      cluster.stdout.on('data', (c) => (out += c) && out.includes('cluster ready') && resolve());
      cluster.once('exit', (code) => reject(new Error(`cluster exited ${code}`)));
    });
    const [origin, ...others] = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')).regions;
    const pushed = new Map();
    const seen = new Map(others.map((r) => [r.name, new Map()]));
    let done = false;
    // Watchers: each region's missing tags asked in turn, 8 at a time, until every one answers.
    const watch = async (r) => {
      const found = seen.get(r.name);
      while (!done || found.size < pushed.size) {
        const missing = [...pushed.keys()].filter((k) => !found.has(k));
        for (let i = 0; i < missing.length; i += 8) {
          await Promise.all(
            missing.slice(i, i + 8).map(async (k) => {
              if ((await get(`${r.registry}${apiPaths.manifest('burst/img', k)}`, 'HEAD')) === 200) found.set(k, performance.now());
            }),
          );
        }
        if (missing.length === 0) await new Promise((res) => setTimeout(res, 5));
      }
    };
    const watchers = others.map(watch);
    let next = 0;
    const t0 = performance.now();
    const pusher = async () => {
      for (let i = next++; i < BURST; i = next++) {
        await pushImage(origin.registry, 'burst/img', `t${i}`, [randomBytes(1024)]);
        pushed.set(`t${i}`, performance.now());
      }
    };
    await Promise.all(Array.from({ length: PUSHERS }, pusher));
    const lastPush = performance.now();
    done = true;
    await Promise.all(watchers);
    const result = { images: BURST, pushers: PUSHERS, pushSeconds: (lastPush - t0) / 1000, regions: {} };
    for (const r of others) {
      const found = seen.get(r.name);
      const lags = [...pushed].map(([k, at]) => found.get(k) - at);
      result.regions[r.name] = {
        afterLastPushSeconds: (Math.max(...found.values()) - lastPush) / 1000,
        lagP50Ms: q(lags, 0.5),
        lagP99Ms: q(lags, 0.99),
        lagMaxMs: Math.max(...lags),
      };
    }
    return result;
  } finally {
    process.kill(-cluster.pid, 'SIGTERM');
    await new Promise((res) => cluster.once('exit', res));
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs = [];
for (const n of SIZES) runs.push(await scaleRun(n));
const burstResult = BURST > 0 ? await burst() : undefined;

const f = (x, d = 2) => x.toFixed(d);
console.log(
  '\n| repositories | tags | repair pass (differing) | its wall s | no-op pass wall s | no-op CPU s: serving / receiving node / replicator |',
);
console.log('|---|---|---|---|---|---|');
for (const r of runs) {
  console.log(
    `| ${r.repositories} | ${r.tags} | ${r.repair.compared} repos, ${r.repair.repairs} repairs | ${f(r.repair.wall)} | ${f(r.noop.wall, 3)} | ${f(r.noop.cpuServing, 3)} / ${f(r.noop.cpuReceivingNode, 3)} / ${f(r.noop.cpuReplicator, 3)} |`,
  );
}
console.log(
  '\n| repositories | tags/list first page p50/p99 ms | manifest GET by tag p50/p99 ms | catalog page p50/p99 ms | node RSS MiB | GC dry run s | peak RSS MiB |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of runs) {
  const l = (x) => `${f(x.p50, 1)} / ${f(x.p99, 1)}`;
  console.log(
    `| ${r.repositories} | ${l(r.listings.tagsFirstPage)} | ${l(r.listings.manifestByTag)} | ${l(r.listings.catalogPage)} | ${f(r.rss.afterListings, 0)} | ${f(r.gc.seconds, 1)} | ${f(r.gc.peakRss, 0)} |`,
  );
}
if (burstResult) {
  console.log(`\nburst: ${burstResult.images} images by ${burstResult.pushers} pushers in ${f(burstResult.pushSeconds, 1)} s`);
  console.log('| region | all in, s after the last push | lag p50 ms | lag p99 ms | lag max ms |\n|---|---|---|---|---|');
  for (const [name, r] of Object.entries(burstResult.regions)) {
    console.log(`| ${name} | ${f(r.afterLastPushSeconds)} | ${f(r.lagP50Ms, 0)} | ${f(r.lagP99Ms, 0)} | ${f(r.lagMaxMs, 0)} |`);
  }
}
mkdirSync(join(root, 'bench-results'), { recursive: true });
const file = join(root, 'bench-results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ runs, burst: burstResult, cpu: execFileSync('nproc').toString().trim() }, null, 2));
console.log(`results: ${file}`);
