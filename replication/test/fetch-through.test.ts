import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { apiPaths, parseDigest, type Reference } from 'georeg/oci';
import * as shared from 'georeg/test-support';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, pushBlob, pushImage, sha256, type Node } from './support.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function get(base: string, path: string, method = 'GET'): Promise<{ status: number; body: Buffer; json: unknown }> {
  const res = await fetch(`${base}${path}`, { method, headers: { Accept: MANIFEST } });
  const body = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, body, json };
}

/**
 * eu publishes its events to a NATS server of its own that us does not reach, so nothing eu holds
 * reaches us but by fetch-through: us's anti-entropy runs once, at start, before anything is pushed.
 */
describe('fetch-through: a manifest or tag us does not hold yet is copied from eu, not a 404', function () {
  this.timeout(30_000);
  let nats: TestNats;
  let euNats: TestNats;
  let eu: Node;
  let us: Node;
  let euServer: RunningReplicationServer;
  let replicator: Replicator;
  /** What eu located for its peers. */
  const asked: string[] = [];

  before(async () => {
    nats = await TestNats.start();
    euNats = await TestNats.start();
    eu = await node({ region: 'eu', nats: { url: euNats.url } });
    euServer = await startReplicationServer(eu.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    const locate = eu.registry.replication.locate.bind(eu.registry.replication);
    eu.registry.replication.locate = (repo: string, ref: Reference) => (asked.push(`${repo}:${ref.digest ?? ref.tag}`), locate(repo, ref));
    us = await node({ region: 'us', nats: { url: nats.url } });
    replicator = new Replicator({
      region: 'us',
      natsUrl: nats.url,
      peers: [{ region: 'eu', address: `127.0.0.1:${euServer.port}` }],
      store: new LocalRegionStore(us.registry, us.clock),
      log: silentLogger,
      antiEntropyMs: 0,
      maxBackoffMs: 300,
      failoverMs: 200,
    });
    const started = once(replicator, 'repaired');
    await replicator.start();
    us.status.replication = replicator;
    await started;
  });
  after(async () => {
    await replicator?.stop();
    await euServer?.close();
    await us?.close();
    await eu?.close();
    await nats?.destroy();
    await euNats?.destroy();
  });

  it('serves a tag pushed only to eu, byte-identical, with its blobs now held here', async () => {
    const layer = randomBytes(300_000);
    const img = await pushImage(eu.url, 'team/app', 'v1', layer);
    const got = await get(us.url, apiPaths.manifest('team/app', 'v1'));
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, img.manifest);
    const blob = await get(us.url, apiPaths.blob('team/app', img.layer));
    assert.equal(blob.status, 200, 'the layer is here, not redirected');
    assert.equal(sha256(blob.body), img.layer);
    assert.equal((await us.registry.replication.tag('team/app', 'v1')).digest, img.digest, 'the tag is stored here');
    const metrics = await (await fetch(`${us.url}${apiPaths.metrics()}`)).text();
    assert.match(metrics, /^georeg_fetch_through_total\{kind="manifest",result="fetched"\} 1$/m);
  });

  it('answers a HEAD by digest the same way', async () => {
    const img = await pushImage(eu.url, 'team/app', 'v2', randomBytes(1000));
    const head = await fetch(`${us.url}${apiPaths.manifest('team/app', img.digest)}`, { method: 'HEAD', headers: { Accept: MANIFEST } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), img.digest);
  });

  it('asks eu once for many requests at once', async () => {
    const img = await pushImage(eu.url, 'team/app', 'v3', randomBytes(200_000));
    asked.length = 0;
    const all = await Promise.all(Array.from({ length: 8 }, () => get(us.url, apiPaths.manifest('team/app', 'v3'))));
    assert.deepEqual(
      all.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.ok(all.every((r) => r.body.equals(img.manifest)));
    assert.deepEqual(asked, [`team/app:${img.digest}`], 'one Locate (eu resolves the tag, then locates its digest)');
  });

  it('streams a blob only eu holds (eu has no publicUrl: no redirect) to the client while storing it, not a 404', async () => {
    const blob = randomBytes(3 * 1024 * 1024 + 17);
    const digest = await pushBlob(eu.url, 'team/solo', blob);
    const got = await fetch(`${us.url}${apiPaths.blob('team/solo', digest)}`);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('docker-content-digest'), digest);
    assert.equal(got.headers.get('content-length'), String(blob.length));
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(blob), 'byte-identical');
    // Stored here meanwhile (the store's copy completes on its own): a HEAD, always local, finds it.
    for (let i = 0; (await fetch(`${us.url}${apiPaths.blob('team/solo', digest)}`, { method: 'HEAD' })).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 20 * Math.min(i + 1, 10)));
    const metrics = await (await fetch(`${us.url}${apiPaths.metrics()}`)).text();
    assert.match(metrics, /^georeg_fetch_through_total\{kind="blob",result="fetched"\} 1$/m);
    const none = await fetch(`${us.url}${apiPaths.blob('team/solo', `sha256:${'0'.repeat(64)}`)}`);
    assert.equal(none.status, 404, 'a blob no region holds is still BLOB_UNKNOWN');
  });

  it('ends a streamed blob short when eu’s copy has other content, and stores nothing', async () => {
    const blob = randomBytes(2 * 1024 * 1024); // past the blob cache: read from the file
    const digest = await pushBlob(eu.url, 'team/rotten', blob);
    const hex = digest.slice('sha256:'.length);
    const file = await open(join(eu.dir, 'blobs', 'sha256', hex.slice(0, 2), hex), 'r+');
    await file.write(Buffer.from('rot!'), 0, 4, 1000);
    await file.close();
    const got = await fetch(`${us.url}${apiPaths.blob('team/rotten', digest)}`);
    assert.equal(got.status, 200, 'the answer started before the end could be checked');
    await assert.rejects(got.arrayBuffer(), 'the body is cut short, never delivered whole with other content');
    assert.equal((await fetch(`${us.url}${apiPaths.blob('team/rotten', digest)}`, { method: 'HEAD' })).status, 404);
  });

  it('answers 404 MANIFEST_UNKNOWN for what no region holds', async () => {
    const got = await get(us.url, apiPaths.manifest('team/app', 'nowhere'));
    assert.equal(got.status, 404);
    assert.equal((got.json as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_UNKNOWN');
  });

  it('does not bring back a tag deleted here after eu last wrote it', async () => {
    await pushImage(eu.url, 'team/app', 'old', randomBytes(1000));
    await pushImage(us.url, 'team/app', 'old', randomBytes(1000));
    const del = await fetch(`${us.url}${apiPaths.manifest('team/app', 'old')}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await get(us.url, apiPaths.manifest('team/app', 'old'))).status, 404);
    assert.equal((await us.registry.replication.tag('team/app', 'old')).digest, undefined);
  });

  it('serves a tag held here as held: fetch-through fills only what is missing (replication brings later moves)', async () => {
    const here = await pushImage(us.url, 'team/app', 'both', randomBytes(1000));
    await pushImage(eu.url, 'team/app', 'both', randomBytes(1000));
    const got = await get(us.url, apiPaths.manifest('team/app', 'both'));
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, here.manifest);
  });

  it('takes a push split across regions: blobs uploaded to eu, the manifest put here', async () => {
    const img = await shared.pushImage({ blobs: eu.url, manifest: us.url }, 'team/app', 'split', [randomBytes(100_000), randomBytes(5000)]);
    const got = await get(us.url, apiPaths.manifest('team/app', 'split'));
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, img.manifest);
    for (const layer of img.layers) assert.equal(await us.registry.replication.hasBlob('team/app', parseDigest(layer)), true);
  });

  it('refuses a manifest whose blob no region holds in that repository (not even in another one), MANIFEST_BLOB_UNKNOWN', async () => {
    const elsewhere = await pushBlob(eu.url, 'team/other', 'in another repository');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: elsewhere, size: 21 },
      layers: [],
    });
    const res = await fetch(`${us.url}${apiPaths.manifest('team/app', 'orphan')}`, {
      method: 'PUT',
      body: manifest,
      headers: { 'Content-Type': MANIFEST },
    });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(await us.registry.replication.hasBlob('team/app', parseDigest(elsewhere)), false);
  });

  it('names eu in the 404 when eu cannot be asked', async () => {
    await euServer.close();
    for (let up = true; up;) [, up] = (await once(replicator, 'probed')) as [string, boolean];
    const got = await get(us.url, apiPaths.manifest('team/app', 'gone'));
    assert.equal(got.status, 404);
    const error = (got.json as { errors: { code: string; message: string; detail: unknown }[] }).errors[0];
    assert.equal(error?.code, 'MANIFEST_UNKNOWN');
    assert.deepEqual(error?.detail, { tag: 'gone', unreachable: ['eu'] });
    assert.match(error?.message ?? '', /eu could not be asked/);
  });
});
