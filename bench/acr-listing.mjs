#!/usr/bin/env node
// `npm run bench:acr`: the latency of the first page of ACR's listings (`/acr/v1/<name>/_manifests`
// and `_tags`, n=100, by time both ways and by name) in a repository of 1,000 and of 100,000
// manifests, each tagged. Target (issue 20): flat, the 100,000 case within 2x of the 1,000 case,
// since a page in time order reads only that page (the T!/M! time indexes). One node in this
// process (LevelDB on disk); the manifests are put through the registry's manifest service (all
// share one config and layer, each its own annotation), then each URL is asked 200 times in turn.
// Flags: --sizes=1000,100000 --requests=200. Results: a table on stdout, bench-results/acr-<stamp>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths, MediaTypes } from 'georeg/oci';
import { startTestNode } from '../nodes/dist/test/support/harness.js';
import { http, pushBlob } from '../nodes/dist/test/support/client.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
const SIZES = arg('sizes', '1000,100000').split(',').map(Number);
const REQUESTS = Number(arg('requests', 200));
const PAGE = 100;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Put `count` manifests, each under its own tag, into `repo`; returns the seconds it took. */
async function fill(node, repo, count) {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = `the one layer of ${repo}`;
  const descriptor = async (mediaType, content) => ({
    mediaType,
    digest: await pushBlob(node.url, repo, content),
    size: Buffer.byteLength(content),
  });
  const base = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: await descriptor(MediaTypes.ociImageConfig, config),
    layers: [await descriptor('application/vnd.oci.image.layer.v1.tar', layer)],
  };
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const body = Buffer.from(JSON.stringify({ ...base, annotations: { n: String(i) } }));
    await node.registry.manifests.put(repo, { tag: `t${i}`, digest: undefined }, body, MediaTypes.ociManifest);
  }
  return (Date.now() - t0) / 1000;
}

/** Milliseconds per GET of `path`, `REQUESTS` times. */
async function latency(node, path) {
  const ms = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = process.hrtime.bigint();
    const res = await http('GET', `${node.url}${path}`);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
  }
  return ms.sort((a, b) => a - b);
}

const node = await startTestNode();
const rows = [];
try {
  for (const size of SIZES) {
    const repo = `bench/n${size}`;
    const fillSeconds = await fill(node, repo, size);
    console.log(`${repo}: ${size} manifests and tags put in ${fillSeconds.toFixed(1)} s`);
    const urls = {
      'manifests timedesc': `${apiPaths.acrManifests(repo)}?n=${PAGE}&orderby=timedesc`,
      'manifests timeasc': `${apiPaths.acrManifests(repo)}?n=${PAGE}&orderby=timeasc`,
      'manifests by digest': `${apiPaths.acrManifests(repo)}?n=${PAGE}`,
      'tags timedesc': `${apiPaths.acrTags(repo)}?n=${PAGE}&orderby=timedesc`,
      'tags by name': `${apiPaths.acrTags(repo)}?n=${PAGE}`,
    };
    for (const [listing, path] of Object.entries(urls)) {
      const ms = await latency(node, path);
      rows.push({ manifests: size, listing, p50: pct(ms, 50), p99: pct(ms, 99), fillSeconds });
    }
  }
} finally {
  await node.close();
}

console.log(`\nfirst page (n=${PAGE}) latency, ${REQUESTS} GETs each`);
console.log('| listing | manifests | p50 ms | p99 ms |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.listing} | ${r.manifests} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} |`);
const small = Math.min(...SIZES);
const large = Math.max(...SIZES);
for (const listing of new Set(rows.map((r) => r.listing))) {
  const a = rows.find((r) => r.listing === listing && r.manifests === small);
  const b = rows.find((r) => r.listing === listing && r.manifests === large);
  if (a && b && large > small) console.log(`${listing}: p50 at ${large} is ${(b.p50 / a.p50).toFixed(2)}x that at ${small} (target <= 2x)`);
}
mkdirSync(join(root, 'bench-results'), { recursive: true });
const file = join(root, 'bench-results', `acr-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ page: PAGE, requests: REQUESTS, rows }, null, 2));
console.log(`results: ${file}`);
