import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { generateKey } from 'georeg/trust';
import type { NodeStatusSnapshot } from '../../src/status.js';
import { startTestNode, type TestNode } from '../support/harness.js';
import { TestNats } from '../support/nats.js';
import { http, pushImage } from '../support/client.js';
import { setPolicy } from '../support/signing.js';

/** Parse the Prometheus text format into samples. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      assert.ok(m, `not a sample line: ${l}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = v as string;
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

async function scrapeOf(url: string): Promise<ReturnType<typeof samples>> {
  const res = await http('GET', `${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.header('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return samples(res.body.toString());
}

function value(all: ReturnType<typeof samples>, name: string, labels: Record<string, string> = {}): number | undefined {
  return all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('GET /metrics', function () {
  this.timeout(20_000);
  let node: TestNode;

  before(async () => {
    node = await startTestNode();
  });
  after(() => node.close());

  const scrape = () => scrapeOf(node.url);

  it('counts requests by route, method and status, with durations and bytes in and out', async () => {
    await pushImage(node.url, 'team/app', 'v1', ['layer-a']);
    for (let i = 0; i < 3; i++) await http('GET', `${node.url}/v2/team/app/manifests/v1`);
    await http('GET', `${node.url}/v2/team/app/manifests/nope`);
    await http('GET', `${node.url}/nowhere`);
    const all = await scrape();
    assert.equal(value(all, 'georeg_http_requests_total', { route: 'manifests', method: 'GET', status: '200' }), 3);
    assert.equal(value(all, 'georeg_http_requests_total', { route: 'manifests', method: 'GET', status: '404' }), 1);
    assert.equal(value(all, 'georeg_http_requests_total', { route: 'manifests', method: 'PUT', status: '201' }), 1);
    assert.equal(value(all, 'georeg_http_requests_total', { route: 'unknown', method: 'GET', status: '404' }), 1);
    assert.equal(value(all, 'georeg_http_request_duration_seconds_count', { route: 'manifests', method: 'GET' }), 4);
    assert.ok((value(all, 'georeg_http_received_bytes_total', { route: 'uploads' }) ?? 0) > 'layer-a'.length);
    assert.ok((value(all, 'georeg_http_sent_bytes_total', { route: 'manifests' }) ?? 0) > 300);
  });

  it('reports stored blobs, bytes, repositories, manifests, uploads and the disk', async () => {
    const all = await scrape();
    assert.equal(value(all, 'georeg_repositories'), 1);
    assert.equal(value(all, 'georeg_manifests'), 1);
    assert.ok((value(all, 'georeg_storage_blobs') ?? 0) >= 3, 'config, layer and manifest');
    assert.ok((value(all, 'georeg_storage_blob_bytes') ?? 0) > 0);
    assert.equal(value(all, 'georeg_upload_sessions'), 0);
    const free = value(all, 'georeg_storage_free_bytes') ?? 0;
    assert.ok(free > 0 && free <= (value(all, 'georeg_storage_capacity_bytes') ?? 0));
    assert.equal(value(all, 'georeg_info', { region: 'local' }), 1);
    assert.equal(value(all, 'georeg_outbox_depth'), 0);
    for (const name of ['georeg_event_stream_messages', 'georeg_event_stream_bytes', 'georeg_event_stream_oldest_timestamp_seconds'])
      assert.equal(value(all, name), 0, `${name} is 0 with events off`);
    assert.ok(
      all.some((s) => s.name === 'process_cpu_seconds_total'),
      'process metrics',
    );
  });

  it('counts GC runs and trust decisions', async () => {
    assert.equal((await http('POST', `${node.url}/georeg/v1/gc?dryRun=true`)).status, 200);
    const key = generateKey();
    await setPolicy(node.url, {
      keys: [{ name: 'ci', publicKey: key.publicPem }],
      policies: [{ repositories: ['team/**'], mode: 'enforce', keys: ['ci'] }],
    });
    assert.equal((await http('GET', `${node.url}/v2/team/app/manifests/v1`)).status, 403);
    const all = await scrape();
    assert.equal(value(all, 'georeg_gc_runs_total', { result: 'ok' }), 1);
    assert.ok((value(all, 'georeg_gc_last_run_timestamp_seconds') ?? 0) > Date.now() / 1000 - 60);
    assert.equal(value(all, 'georeg_trust_decisions_total', { mode: 'enforce', result: 'unsigned' }), 1);
  });

  it('counts lock changes and the targets locked', async () => {
    await pushImage(node.url, 'locks/app', 'v1');
    const before = await scrape();
    assert.equal(value(before, 'georeg_lock_changes_total', { origin: 'replicated' }), 0);
    const lock = await http('PATCH', `${node.url}${apiPaths.acrTag('locks/app', 'v1')}`, { body: Buffer.from('{"writeEnabled":false}') });
    assert.equal(lock.status, 200, lock.body.toString());
    const all = await scrape();
    assert.equal(
      value(all, 'georeg_lock_changes_total', { origin: 'local' }),
      (value(before, 'georeg_lock_changes_total', { origin: 'local' }) ?? 0) + 1,
    );
    assert.equal(value(all, 'georeg_locked_targets'), 1);
  });

  it('never puts a digest, tag, repository or address in a label', async () => {
    for (const s of await scrape()) {
      for (const v of Object.values(s.labels)) {
        assert.doesNotMatch(v, /sha256|team\/app|v1$|127\.0\.0\.1|nope|nowhere/, `${s.name} ${JSON.stringify(s.labels)}`);
      }
    }
  });
});

describe("GET /metrics and the status: this region's event stream (real nats-server)", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let node: TestNode;

  before(async () => {
    nats = await TestNats.start();
    node = await startTestNode({ region: 'eu', nats: { url: nats.url } });
    await node.publisher?.ready;
  });
  after(async () => {
    await node?.close();
    await nats?.destroy();
  });

  it('reports the events the stream holds, their bytes and when the oldest was stored, alike in both', async () => {
    const began = Date.now();
    await pushImage(node.url, 'team/app', 'v1');
    await node.publisher?.drained();
    const res = await http('GET', `${node.url}${apiPaths.replication()}`);
    assert.equal(res.status, 200);
    const { stream } = JSON.parse(res.body.toString()) as NodeStatusSnapshot;
    assert.ok(stream, 'events are on');
    const { oldest, bytes, ...rest } = stream;
    assert.deepEqual(rest, { name: 'GEOREG_EVENTS_EU', messages: 2, firstSeq: 1, lastSeq: 2 }, 'a manifest and its tag, nothing failed');
    assert.ok(bytes > 0);
    const stored = Date.parse(oldest ?? '');
    assert.ok(stored >= began - 1000 && stored <= Date.now(), `oldest ${oldest}`);
    // Read within the same few seconds: the same numbers, without asking JetStream again.
    const all = await scrapeOf(node.url);
    assert.equal(value(all, 'georeg_event_stream_messages'), 2);
    assert.equal(value(all, 'georeg_event_stream_bytes'), bytes);
    assert.equal(value(all, 'georeg_event_stream_oldest_timestamp_seconds'), stored / 1000);
  });
});
