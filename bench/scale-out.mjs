#!/usr/bin/env node
// `npm run bench:scaleout`: a region of 1, 2 and 3 nodes over the same storage (issue 22).
// GETs: one image with a 64 KiB layer in an Azurite container, metadata in a PostgreSQL database
// (test-support: a database of its own, dropped after); N `georeg serve` nodes (access log off, no
// NATS) behind a `georeg front`; wrk, one thread and --connections open, asks for the manifest by
// tag and for the 64 KiB blob for --seconds each: req/s, latency p50/p99, and CPU seconds per
// request of the nodes together, of the front, of wrk, of PostgreSQL, of Azurite and of the rest of
// the machine (/proc/stat: whatever else runs here). Also 1 node without the front.
// Push/pull: one node (LevelDB metadata) on Azurite, then on the fs driver: a fresh 64 MiB blob
// pushed in one PATCH and pulled back, --rounds times; MiB/s (median).
// Needs wrk (apt-get install wrk). Flags: --nodes=1,2,3 --seconds=10 --connections=32 --rounds=3.
// Results: markdown on stdout, bench-results/scale-out-<stamp>.json.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths, queryString } from 'georeg/oci';
import { AZURITE_ACCOUNT, AZURITE_KEY, createTestDatabase, pushImage, startAzurite } from 'georeg/test-support';
import { serve } from './scale-seed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
const NODES = arg('nodes', '1,2,3').split(',').map(Number);
const SECONDS = Number(arg('seconds', 10));
const CONNECTIONS = Number(arg('connections', 32));
const ROUNDS = Number(arg('rounds', 3));
const BLOB = 64 * 1024 * 1024;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const f = (n, d = 2) => (n === undefined ? '-' : n.toFixed(d));
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
/** CPU seconds of this process's children that have ended and been waited for (wrk, once execFileSync returns). */
function childrenCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}
/** The pids of processes whose /proc/<pid>/stat `pick` accepts (the command name is in parentheses, the parent pid 2 fields later). */
function pidsWhere(pick) {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return pick(readFileSync(`/proc/${d}/stat`, 'utf8'));
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
/** CPU seconds of each of `pids` (those gone meanwhile left out). */
function cpuByPid(pids) {
  const cpu = new Map();
  for (const p of pids) {
    try {
      cpu.set(p, cpuSeconds(p));
    } catch {
      // gone meanwhile
    }
  }
  return cpu;
}
/** CPU seconds the processes `find` names used since `before` (cpuByPid); one started meanwhile counts from 0, one that ended is lost. */
const cpuSince = (before, find) => [...cpuByPid(find())].reduce((sum, [p, s]) => sum + s - (before.get(p) ?? 0), 0);
/** The PostgreSQL server's processes (all of its backends: other users' too), and this script's Azurite. */
const postgresPids = () => pidsWhere((stat) => stat.includes(' (postgres) '));
const azuritePids = () =>
  pidsWhere((stat) => stat.split(') ')[1].split(' ')[1] === String(process.pid) && stat.includes('(node)')).filter((p) =>
    readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('azurite'),
  );

/** CPU seconds every core of the machine has been busy (not idle, not waiting for I/O), from /proc/stat. */
function machineBusySeconds() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (ticks.reduce((a, b) => a + b, 0) - ticks[3] - ticks[4]) / 100;
}

/** `georeg front` over `urls`; resolves with its URL, its pid and a stop function. */
async function front(urls) {
  const nodes = urls.flatMap((u) => ['--node', new URL(u).host]);
  const child = spawn(process.execPath, [join(root, 'cli/dist/src/main.js'), 'front', '--listen', '127.0.0.1:0', ...nodes], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    child.stderr.on('data', (c) => {
      log += c;
      const m = /"msg":"front listening","url":"([^"]+)"/.exec(log);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`georeg front exited ${code}: ${log}`)));
  });
  return { url, pid: child.pid, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))) };
}

/** wrk against `url` for `seconds`: req/s and latency p50/p99 (ms), with the CPU seconds `pids`, wrk and the machine used meanwhile. */
function wrk(url, pids, headers = [], seconds = SECONDS) {
  const cpu0 = pids.map(cpuSeconds);
  const busy0 = machineBusySeconds();
  const wrk0 = childrenCpuSeconds();
  const [pg0, az0] = [cpuByPid(postgresPids()), cpuByPid(azuritePids())];
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const cpu = pids.map((p, i) => cpuSeconds(p) - cpu0[i]);
  const ms = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2]] : undefined;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0];
  if (errors) throw new Error(`wrk ${url}: ${errors}\n${out}`);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  return {
    rps,
    p50: ms(50),
    p99: ms(99),
    requests,
    cpu,
    wrk: childrenCpuSeconds() - wrk0,
    postgres: cpuSince(pg0, postgresPids), // the nodes' pools keep their connections, so their backends
    azurite: cpuSince(az0, azuritePids),
    machine: machineBusySeconds() - busy0,
  };
}

/** Send `body` as one upload (POST, one PATCH, PUT ?digest=) to `base`; resolves with the seconds it took. */
async function pushBlob(base, repo, body, digest) {
  const t0 = performance.now();
  const call = (method, path, data, headers = {}) =>
    new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, { method, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode >= 300 ? reject(new Error(`${method} ${path}: ${res.statusCode}`)) : resolve(res)));
      });
      req.on('error', reject);
      req.end(data);
    });
  const begun = await call('POST', apiPaths.uploads(repo));
  const location = new URL(begun.headers.location, base);
  const path = `${location.pathname}${location.search}`;
  await call('PATCH', path, body, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
  await call('PUT', `${path}${path.includes('?') ? '&' : '?'}${queryString({ digest }).slice(1)}`);
  return (performance.now() - t0) / 1000;
}

/** GET the blob from `base`, hashing it as it comes; resolves with the seconds it took. */
function pullBlob(base, repo, digest) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    request(`${base}${apiPaths.blob(repo, digest)}`, (res) => {
      const h = createHash('sha256');
      res.on('data', (c) => h.update(c));
      res.on('end', () =>
        `sha256:${h.digest('hex')}` === digest ? resolve((performance.now() - t0) / 1000) : reject(new Error('pulled bytes differ')),
      );
    })
      .on('error', reject)
      .end();
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'georeg-bench-scale-out-'));
writeFileSync(join(tmp, 'account.key'), AZURITE_KEY);
const [azurite, db] = await Promise.all([startAzurite(), createTestDatabase()]);
writeFileSync(join(tmp, 'pg-url'), db.url);
const azure = (container) => ({
  GEOREG_STORAGE_DRIVER: 'azure',
  GEOREG_STORAGE_AZURE_URL: azurite.url,
  GEOREG_STORAGE_AZURE_ACCOUNT_NAME: AZURITE_ACCOUNT,
  GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: join(tmp, 'account.key'),
  GEOREG_STORAGE_AZURE_CONTAINER: container,
});
const regionEnv = { ...azure('bench-gets'), GEOREG_META_DRIVER: 'postgres', GEOREG_META_POSTGRES_URL_FILE: join(tmp, 'pg-url') };
const gets = [];
const transfers = [];
try {
  const layer = randomBytes(64 * 1024);
  const blobDigest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  let image;
  for (const n of NODES) {
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push(await serve(join(tmp, `gets-${n}-${i}`), regionEnv));
    const fronted = await front(nodes.map((x) => x.url));
    image ??= await pushImage(fronted.url, 'bench/app', 'v1', [layer]);
    const setups = [{ label: `${n} behind the front`, base: fronted.url }];
    if (n === 1) setups.push({ label: '1, no front', base: nodes[0].url });
    for (const { label, base } of setups) {
      for (const [what, url, headers] of [
        ['manifest GET', `${base}${apiPaths.manifest('bench/app', 'v1')}`, [`Accept: ${MANIFEST_TYPE}`]],
        ['64 KiB blob GET', `${base}${apiPaths.blob('bench/app', blobDigest)}`, []],
      ]) {
        wrk(url, [], headers, 2); // warm-up (connections, caches, JIT), not counted
        const r = wrk(url, [...nodes.map((x) => x.pid), fronted.pid], headers);
        const nodesCpu = r.cpu.slice(0, -1).reduce((a, b) => a + b, 0);
        const frontCpu = r.cpu.at(-1); // ~0 when the front is not asked
        const perRequest = (seconds) => (seconds / r.requests) * 1e3;
        gets.push({
          nodes: label,
          what,
          rps: r.rps,
          p50: r.p50,
          p99: r.p99,
          nodesCpuMs: perRequest(nodesCpu),
          frontCpuMs: perRequest(frontCpu),
          wrkCpuMs: perRequest(r.wrk),
          postgresCpuMs: perRequest(r.postgres),
          azuriteCpuMs: perRequest(r.azurite),
          // this script, the kernel's own threads, and whatever else the machine was doing
          restCpuMs: perRequest(r.machine - nodesCpu - frontCpu - r.wrk - r.postgres - r.azurite),
          machineCpuMs: perRequest(r.machine),
        });
        console.error(JSON.stringify(gets.at(-1)));
      }
    }
    await fronted.stop();
    for (const x of nodes) await x.stop();
  }
  for (const [storage, env] of [
    ['Azurite', azure('bench-transfer')],
    ['fs (local disk)', {}],
  ]) {
    const node = await serve(join(tmp, `transfer-${transfers.length}`), env);
    const push = [];
    const pull = [];
    for (let i = 0; i < ROUNDS; i++) {
      const body = randomBytes(BLOB);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      push.push(await pushBlob(node.url, 'bench/big', body, digest));
      pull.push(await pullBlob(node.url, 'bench/big', digest));
    }
    await node.stop();
    const mibs = (s) => BLOB / 1024 / 1024 / s;
    transfers.push({ storage, pushMiBs: mibs(median(push)), pullMiBs: mibs(median(pull)) });
    console.error(JSON.stringify(transfers.at(-1)));
  }
} finally {
  await Promise.all([azurite.stop(), db.drop()]);
  rmSync(tmp, { recursive: true, force: true });
}

console.log(
  `GETs: wrk -t1 -c${CONNECTIONS}, ${SECONDS} s each; CPU ms per request of the nodes together, the front, wrk, PostgreSQL, Azurite, the rest, the machine`,
);
console.log(
  '| nodes | request | req/s | p50 ms | p99 ms | nodes | front | wrk | PostgreSQL | Azurite | rest | machine |\n|---|---|---|---|---|---|---|---|---|---|---|---|',
);
for (const g of gets) {
  console.log(
    `| ${g.nodes} | ${g.what} | ${f(g.rps, 0)} | ${f(g.p50)} | ${f(g.p99)} | ${f(g.nodesCpuMs, 3)} | ${f(g.frontCpuMs, 3)} | ${f(g.wrkCpuMs, 3)} | ${f(g.postgresCpuMs, 3)} | ${f(g.azuriteCpuMs, 3)} | ${f(g.restCpuMs, 3)} | ${f(g.machineCpuMs, 3)} |`,
  );
}
console.log(`\n64 MiB blob, one node, median of ${ROUNDS}\n| storage | push MiB/s | pull MiB/s |\n|---|---|---|`);
for (const t of transfers) console.log(`| ${t.storage} | ${f(t.pushMiBs, 0)} | ${f(t.pullMiBs, 0)} |`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const file = join(root, 'bench-results', `scale-out-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify({ gets, transfers, cpus: execFileSync('nproc').toString().trim(), seconds: SECONDS, connections: CONNECTIONS }, null, 2),
);
console.log(`results: ${file}`);
