#!/usr/bin/env node
// `npm run bench:trust`: the cost of content-trust enforcement on manifest GET by tag. One georeg
// node; prod/app:v1 (signed with a tag binding) and open/app:v1 (unsigned); policy `prod/**` enforce
// with the signing key, `**` off. wrk (Debian's `wrk`) then GETs one manifest URL, interleaved and
// rotated run by run:
//   A  /v2/open/app/manifests/v1   policy off for that repository
//   B  /v2/prod/app/manifests/v1   enforce, signed (decisions are cached)
//   C  like B, after a policy version change just before the run (first requests recompute)
// Target: median req/s of B >= 90% of A. wrk shares the (2-core) machine with the node, so absolute
// numbers are low and noisy; compare the ratio. Flags: --seconds=10 --conns=32 --runs=3.
// Results: a table on stdout and bench-results/trust-<stamp>.json. Exit 0 whenever the run completed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';
import { generateKey } from '../trust/dist/src/index.js';
import { http, pushImage } from '../nodes/dist/test/support/client.js';
import { pushBinding, setPolicy, subjectOf } from '../nodes/dist/test/support/signing.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (n, d) => Number(process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d);
const SECONDS = opt('seconds', 10),
  CONNS = opt('conns', 32),
  RUNS = opt('runs', 3);
const THREADS = Math.min(2, CONNS);
const ACCEPT = 'Accept: application/vnd.oci.image.manifest.v1+json';
const TARGET = 0.9;
if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench:trust: wrk not found (apt-get install wrk)');
  process.exit(2);
}

// ---------------------------------------------------------------- node lifecycle and cleanup
const temp = mkdtempSync(join(tmpdir(), 'georeg-trustbench-'));
const port = await new Promise((res) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const node = spawn(
  process.execPath,
  [join(root, 'cli/dist/src/main.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', join(temp, 'data')],
  {
    env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
let wrkChild;
let stopping;
function stop() {
  stopping ??= (async () => {
    wrkChild?.kill('SIGTERM');
    if (node.exitCode === null && node.signalCode === null) {
      const exited = new Promise((r) => node.once('exit', r));
      node.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (node.exitCode === null && node.signalCode === null) node.kill('SIGKILL');
    }
    rmSync(temp, { recursive: true, force: true });
  })();
  return stopping;
}
let signalled; // exit code after SIGINT/SIGTERM: the run then ends through the same cleanup
process.on('SIGINT', () => {
  signalled = 130;
  stop().finally(() => process.exit(130));
});
process.on('SIGTERM', () => {
  signalled = 143;
  stop().finally(() => process.exit(143));
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;
// the node's utime + stime in seconds (USER_HZ = 100)
const cpuS = () => {
  const t = readFileSync(`/proc/${node.pid}/stat`, 'utf8'),
    f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

// wrk on one URL; a Lua done() hook prints the summary as JSON. Any non-2xx answer or socket error fails the run.
const LUA = `done = function(s, lat, req)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    s.requests, s.duration, s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout,
    lat:percentile(50), lat:percentile(99)))
end
`;
writeFileSync(join(temp, 'report.lua'), LUA);
function wrk(path, seconds = SECONDS) {
  return new Promise((resolve, reject) => {
    const args = [
      `-t${THREADS}`,
      `-c${CONNS}`,
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '-s',
      join(temp, 'report.lua'),
      '-H',
      ACCEPT,
      `${base}${path}`,
    ];
    let out = '';
    const cpu0 = cpuS();
    wrkChild = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    wrkChild.stdout.on('data', (c) => (out += c));
    wrkChild.once('error', reject);
    wrkChild.once('exit', (code) => {
      wrkChild = undefined;
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${out}`));
      const j = JSON.parse(line.slice(8));
      if (j.errors > 0 || j.requests === 0)
        return reject(new Error(`wrk on ${path}: ${j.errors} errors (non-2xx or socket) in ${j.requests} requests`));
      resolve({
        rps: j.requests / (j.duration_us / 1e6),
        requests: j.requests,
        p50_ms: j.p50_us / 1000,
        p99_ms: j.p99_us / 1000,
        node_cpu_us_per_req: ((cpuS() - cpu0) * 1e6) / j.requests,
      });
    });
  });
}

// ---------------------------------------------------------------- setup and sanity
async function main() {
  for (let i = 0; ; i++) {
    if ((await fetch(`${base}${apiPaths.base()}`).catch(() => undefined))?.ok) break;
    if (i > 100 || node.exitCode !== null) throw new Error('georeg did not start');
    await sleep(100);
  }
  const key = generateKey();
  const prod = await pushImage(base, 'prod/app', 'v1', ['prod layer']);
  await pushImage(base, 'open/app', 'v1', ['open layer']);
  await pushImage(base, 'prod/app', 'unsigned', ['another prod layer']);
  await pushBinding(base, 'prod/app', subjectOf(prod.manifest), key, { tag: 'v1', sequence: 1 });
  const doc = {
    identity: 'reg.test',
    keys: [{ name: 'bench', publicKey: key.publicPem }],
    policies: [
      { repositories: ['prod/**'], mode: 'enforce', keys: ['bench'], threshold: 1 },
      { repositories: ['**'], mode: 'off' },
    ],
  };
  await setPolicy(base, doc);
  const get = (path) => http('GET', `${base}${path}`, { headers: { Accept: ACCEPT.slice(8) } });
  const want = async (path, status) => {
    const t0 = performance.now();
    const r = await get(path);
    if (r.status !== status) throw new Error(`sanity: GET ${path} -> ${r.status}, want ${status}: ${r.body.toString().slice(0, 200)}`);
    return performance.now() - t0;
  };
  const coldMs = await want(apiPaths.manifest('prod/app', 'v1'), 200);
  const warmMs = await want(apiPaths.manifest('prod/app', 'v1'), 200);
  await want(apiPaths.manifest('open/app', 'v1'), 200);
  await want(apiPaths.manifest('prod/app', 'unsigned'), 403);
  console.error(`sanity ok: prod/app:v1 200 (first ${r1(coldMs)} ms, cached ${r1(warmMs)} ms), open/app:v1 200, prod/app:unsigned 403`);

  // ---------------------------------------------------------------- measurement
  const variants = {
    A: {
      what: 'open/app:v1, policy off',
      path: apiPaths.manifest('open/app', 'v1'),
      before: () => want(apiPaths.manifest('open/app', 'v1'), 200),
    },
    B: {
      what: 'prod/app:v1, enforce, signed (cached)',
      path: apiPaths.manifest('prod/app', 'v1'),
      before: () => want(apiPaths.manifest('prod/app', 'v1'), 200),
    },
    C: {
      what: 'prod/app:v1, enforce, policy version changed before the run',
      path: apiPaths.manifest('prod/app', 'v1'),
      before: () => setPolicy(base, doc),
    },
  };
  const names = Object.keys(variants);
  console.error(`warm-up: ${Math.min(3, SECONDS)} s each on A and B`);
  for (const n of ['A', 'B']) await wrk(variants[n].path, Math.min(3, SECONDS));
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < RUNS; i++) {
    const order = names.map((_, k) => names[(k + i) % names.length]); // rotated: A B C, B C A, C A B, ...
    for (const n of order) {
      await variants[n].before();
      const r = await wrk(variants[n].path);
      runs[n].push(r);
      console.error(
        `round ${i + 1}/${RUNS} ${n}: ${r1(r.rps)} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, node ${r1(r.node_cpu_us_per_req)} us CPU/req`,
      );
    }
  }
  const decisions = (await get(apiPaths.trust())).json().decisions;

  // ---------------------------------------------------------------- report
  const summary = Object.fromEntries(
    names.map((n) => [
      n,
      {
        what: variants[n].what,
        path: variants[n].path,
        runs: runs[n].map((r) => ({ ...r, rps: r1(r.rps), node_cpu_us_per_req: r1(r.node_cpu_us_per_req) })),
        median_rps: r1(median(runs[n].map((r) => r.rps))),
        median_p50_ms: median(runs[n].map((r) => r.p50_ms)),
        median_p99_ms: median(runs[n].map((r) => r.p99_ms)),
        median_cpu_us_per_req: r1(median(runs[n].map((r) => r.node_cpu_us_per_req))),
      },
    ]),
  );
  const ratio = (n) => Math.round((summary[n].median_rps / summary.A.median_rps) * 1000) / 1000;
  const met = ratio('B') >= TARGET;
  const cell = (xs) => xs.map((x) => x.toFixed(0)).join(' / ');
  console.log(
    `\nTrust enforcement bench: wrk -t${THREADS} -c${CONNS} -d${SECONDS}s, ${RUNS} interleaved runs per variant, ${cpus().length} cores shared by node and wrk.\n`,
  );
  console.log('| variant | req/s per run | median req/s | p50 ms (median) | p99 ms (median) | node CPU us/req (median) | vs A |');
  console.log('|---|---|---|---|---|---|---|');
  for (const n of names) {
    const s = summary[n];
    console.log(
      `| ${n}: ${s.what} | ${cell(runs[n].map((r) => r.rps))} | ${s.median_rps.toFixed(0)} | ${s.median_p50_ms.toFixed(2)} | ${s.median_p99_ms.toFixed(2)} | ${s.median_cpu_us_per_req} | ${ratio(n).toFixed(3)} |`,
    );
  }
  console.log(`\nFirst GET after setting the policy (decision computed): ${r1(coldMs)} ms; next (cached): ${r1(warmMs)} ms.`);
  console.log(`Decisions counted by the node: ${JSON.stringify(decisions)}`);
  console.log(`\nB/A median = ${ratio('B').toFixed(3)} (target >= ${TARGET}): ${met ? 'MET' : 'NOT MET'}; C/A = ${ratio('C').toFixed(3)}`);
  const result = {
    finished: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    config: { seconds: SECONDS, conns: CONNS, threads: THREADS, runs: RUNS, accept: ACCEPT },
    sanity: { cold_ms: r1(coldMs), cached_ms: r1(warmMs) },
    variants: summary,
    decisions,
    ratio_B_A: ratio('B'),
    ratio_C_A: ratio('C'),
    target: TARGET,
    met,
  };
  const dir = join(root, 'bench-results'); // git-ignored (/bench-results/ in .gitignore)
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `trust-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`Saved ${file}`);
}

let code = 0;
try {
  await main();
} catch (e) {
  if (!signalled) console.error(`bench:trust failed: ${e.stack ?? e}`);
  code = 1;
}
await stop();
process.exit(signalled ?? code);
