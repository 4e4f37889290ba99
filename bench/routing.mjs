#!/usr/bin/env node
// `npm run bench:routing`: what nearest-region routing costs (issue 17).
//  1. Fetch-through: `georeg cluster --regions eu,us`; us's NATS server is frozen (SIGSTOP), so no
//     event reaches us; N images of three 1 MiB layers are pushed into eu, and each is then pulled
//     from us by tag (the manifest GET waits for the copy of the whole image). Then us's NATS is
//     thawed and N more images are pushed into eu: the replication lag is the time from the
//     manifest PUT's 201 until us holds the tag (polled on /georeg/v1/where, which asks no peer).
//  2. Routing on a local blob GET: two `georeg serve` nodes, one with client placement on (the
//     client is placed in the node's own region: one CIDR match per GET), one without; wrk GETs a
//     64 KiB blob from each, interleaved. Flags: --images=30 --seconds=10 --runs=3 --conns=32.
// Prints a markdown summary. Needs wrk (Debian's `wrk`).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';
import { pushBlob, pushImage } from 'georeg/test-support';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'cli/dist/src/main.js');
const opt = (n, d) => Number(process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d);
const IMAGES = opt('images', 30);
const SECONDS = opt('seconds', 10);
const RUNS = opt('runs', 3);
const CONNS = opt('conns', 32);
const MiB = 1024 * 1024;
if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench:routing: wrk not found (apt-get install wrk)');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'georeg-routingbench-'));
const children = [];
const env = { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' };
let frozen;
const cleanup = () => {
  if (frozen) process.kill(frozen, 'SIGCONT');
  for (const c of children) if (c.exitCode === null) process.kill(c.detached ? -c.pid : c.pid, 'SIGTERM');
};
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => (cleanup(), process.exit(130)));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);
const ms = (x) => `${x.toFixed(1)} ms`;
const image = () => [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];

// ---------------------------------------------------------------- 1. fetch-through against replication
async function fetchThrough() {
  const cluster = spawn(process.execPath, [main, 'cluster', '--regions', 'eu,us', '--data', join(dir, 'cluster'), '--port-base', '7800'], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  children.push(cluster);
  await new Promise((resolve, reject) => {
    let out = '';
    cluster.stdout.on('data', (c) => (out += c) && out.includes('cluster ready') && resolve());
    cluster.once('exit', (code) => reject(new Error(`cluster exited ${code}`)));
  });
  console.error('bench:routing: cluster eu,us ready');
  const [eu, us] = JSON.parse(readFileSync(join(dir, 'cluster', 'cluster.json'), 'utf8')).regions;
  const natsUs = Number(
    execFileSync('pgrep', ['-f', `nats-server -c ${join(dir, 'cluster', 'us', 'nats.conf')}`])
      .toString()
      .trim(),
  );
  const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };

  // us sends nothing to a peer it has not probed yet: wait for its first answer.
  while (!(await (await fetch(`${us.registry}${apiPaths.replication()}`)).json()).peers[0]?.up) await new Promise((r) => setTimeout(r, 50));
  frozen = natsUs;
  process.kill(natsUs, 'SIGSTOP');
  console.error(`bench:routing: us's NATS server frozen; ${IMAGES} fetch-throughs`);
  const through = [];
  for (let i = 0; i < IMAGES; i++) {
    await pushImage(eu.registry, 'bench/ft', `t${i}`, image());
    const t0 = performance.now();
    const res = await fetch(`${us.registry}${apiPaths.manifest('bench/ft', `t${i}`)}`, { headers: accept });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`fetch-through of t${i}: ${res.status}`);
    through.push(performance.now() - t0);
  }
  process.kill(natsUs, 'SIGCONT');
  frozen = undefined;
  console.error(`bench:routing: us's NATS server thawed; ${IMAGES} replicated images`);

  const held = async (tag) => {
    const body = await (await fetch(`${us.registry}${apiPaths.where('bench/lag', tag)}`)).json();
    return body.regions.find((r) => r.region === 'us')?.state === 'complete';
  };
  // Replication flows again once us's consumer is back: wait for a first image before measuring.
  await pushImage(eu.registry, 'bench/lag', 'warm', image());
  while (!(await held('warm'))) await new Promise((r) => setTimeout(r, 20));
  const lag = [];
  for (let i = 0; i < IMAGES; i++) {
    await pushImage(eu.registry, 'bench/lag', `t${i}`, image());
    const t0 = performance.now();
    while (!(await held(`t${i}`))) await new Promise((r) => setTimeout(r, 2));
    lag.push(performance.now() - t0);
  }
  const status = await (await fetch(`${us.registry}${apiPaths.replication()}`)).json();
  process.kill(-cluster.pid, 'SIGTERM');
  return { through, lag, rtt: status.peers[0]?.rttMs };
}

// ---------------------------------------------------------------- 2. routing's cost on a local blob GET
function serve(name, extraEnv) {
  const child = spawn(process.execPath, [main, 'serve', '--listen', '127.0.0.1:0', '--data', join(dir, name)], {
    env: { ...env, GEOREG_LOG_LEVEL: 'info', ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    // The log goes to stderr.
    child.stderr.on('data', (c) => {
      out += c;
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${out}`)));
  });
}

const LUA = `done = function(s, lat, req)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    s.requests, s.duration, s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout,
    lat:percentile(50), lat:percentile(99)))
end
`;
function wrk(url) {
  writeFileSync(join(dir, 'report.lua'), LUA);
  const out = execFileSync('wrk', ['-t2', `-c${CONNS}`, `-d${SECONDS}s`, '-s', join(dir, 'report.lua'), url]).toString();
  const j = JSON.parse(
    out
      .split('\n')
      .find((l) => l.startsWith('WRKJSON '))
      .slice(8),
  );
  if (j.errors > 0) throw new Error(`wrk: ${j.errors} errors`);
  return { rps: j.requests / (j.duration_us / 1e6), p50: j.p50_us / 1000, p99: j.p99_us / 1000 };
}

async function localGet() {
  console.error('bench:routing: 64 KiB blob GETs with and without placement');
  const plain = await serve('plain', {});
  const placed = await serve('placed', { GEOREG_NETWORK_PLACEMENT: '127.0.0.0/8=local,10.0.0.0/8=local' });
  const blob = randomBytes(64 * 1024);
  const digest = await pushBlob(plain.url, 'bench/blob', blob);
  await pushBlob(placed.url, 'bench/blob', blob);
  const runs = { plain: [], placed: [] };
  for (let r = 0; r < RUNS; r++) {
    for (const [name, node] of r % 2
      ? [
          ['placed', placed],
          ['plain', plain],
        ]
      : [
          ['plain', plain],
          ['placed', placed],
        ]) {
      runs[name].push(wrk(`${node.url}${apiPaths.blob('bench/blob', digest)}`));
    }
  }
  plain.child.kill('SIGTERM');
  placed.child.kill('SIGTERM');
  return runs;
}

try {
  const ft = await fetchThrough();
  const get = await localGet();
  const row = (name, rs) =>
    `| ${name} | ${Math.round(median(rs.map((r) => r.rps)))} (${rs.map((r) => Math.round(r.rps)).join(', ')}) | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} |`;
  console.log(`
### Fetch-through of a 3 MiB image (three 1 MiB layers), ${IMAGES} images, eu -> us on loopback

| | p50 | p99 | max |
|---|---|---|---|
| fetch-through (manifest GET in us, image only in eu) | ${ms(median(ft.through))} | ${ms(pct(ft.through, 99))} | ${ms(Math.max(...ft.through))} |
| replication lag (201 in eu until us holds the tag) | ${ms(median(ft.lag))} | ${ms(pct(ft.lag, 99))} | ${ms(Math.max(...ft.lag))} |

Probe round trip eu from us (smoothed): ${ft.rtt === undefined ? 'n/a' : `${ft.rtt} ms`}.

### 64 KiB blob GET, wrk -c${CONNS}, ${SECONDS} s x ${RUNS} runs interleaved (median, runs)

| node | req/s | p50 ms | p99 ms |
|---|---|---|---|
${row('no placement', get.plain)}
${row('placement on (client placed here)', get.placed)}
`);
} finally {
  cleanup();
}
