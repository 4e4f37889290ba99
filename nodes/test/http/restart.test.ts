import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushImage, sha256, type PushedImage } from '../support/client.js';

/** Upload sessions never expire on their own during these tests; expiry is driven by hand. */
const overrides = { uploads: { maxAgeSeconds: 0, expireIntervalSeconds: 0 } };

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('http: restart', () => {
  let dir: string;
  let node: TestNode;
  let image: PushedImage;
  let index: Buffer;
  const data = Buffer.from('0123456789'.repeat(1000) + 'tail');
  const split = 6000;
  let chunked: string; // upload continued after the restart with a PATCH
  let finalOnly: string; // upload finished after the restart by a bare PUT
  let finalChunk: string; // upload finished after the restart by a PUT carrying the last chunk

  const url = (path: string): string => `${node.url}${path}`;

  async function startUpload(): Promise<string> {
    const res = await http('POST', url('/v2/rs/app/blobs/uploads/'));
    assert.equal(res.status, 202);
    return res.header('location') ?? '';
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-restart-'));
    node = await startTestNode(overrides, dir);
    image = await pushImage(node.url, 'rs/app', 'v1', ['layer one', 'layer two']);
    await pushImage(node.url, 'rs/app', 'v2');
    index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.manifest.length }],
      }),
    );
    const put = await http('PUT', url('/v2/rs/app/manifests/multi'), {
      body: index,
      headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(put.status, 201);

    chunked = await startUpload();
    finalOnly = await startUpload();
    finalChunk = await startUpload();
    for (const loc of [chunked, finalOnly, finalChunk]) {
      const res = await http('PATCH', url(loc), { body: data.subarray(0, split), headers: { 'Content-Range': `0-${split - 1}` } });
      assert.equal(res.status, 202);
    }
    const rest = await http('PATCH', url(finalOnly), {
      body: data.subarray(split),
      headers: { 'Content-Range': `${split}-${data.length - 1}` },
    });
    assert.equal(rest.status, 202);

    await node.close();
    node = await startTestNode(overrides, dir); // same data dir, fresh process state
  });

  after(async () => {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an upload started before the restart reports its offset', async () => {
    const res = await http('GET', url(chunked));
    assert.equal(res.status, 204);
    assert.equal(res.header('range'), `0-${split - 1}`);
    assert.equal(res.header('location'), chunked);
  });

  it('continues with a PATCH from that offset and a PUT with the digest answers 201', async () => {
    const patch = await http('PATCH', url(chunked), {
      body: data.subarray(split),
      headers: { 'Content-Range': `${split}-${data.length - 1}` },
    });
    assert.equal(patch.status, 202, patch.body.toString());
    assert.equal(patch.header('range'), `0-${data.length - 1}`);
    const digest = sha256(data);
    const put = await http('PUT', url(`${chunked}?digest=${digest}`));
    assert.equal(put.status, 201, put.body.toString());
    const get = await http('GET', url(`/v2/rs/app/blobs/${digest}`));
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, data);
  });

  it('a chunk that does not start at the surviving offset still answers 416', async () => {
    const loc = await startUpload();
    assert.equal((await http('PATCH', url(loc), { body: 'abc', headers: { 'Content-Range': '0-2' } })).status, 202);
    expectError(await http('PATCH', url(loc), { body: 'abc', headers: { 'Content-Range': '0-2' } }), 416, 'BLOB_UPLOAD_INVALID');
  });

  it('a bare PUT finishes an upload whose bytes all arrived before the restart', async () => {
    const put = await http('PUT', url(`${finalOnly}?digest=${sha256(data)}`));
    assert.equal(put.status, 201, put.body.toString());
  });

  it('a PUT carrying the last chunk finishes an upload begun before the restart', async () => {
    const other = Buffer.concat([data.subarray(0, split), Buffer.from('a different ending')]);
    const put = await http('PUT', url(`${finalChunk}?digest=${sha256(other)}`), {
      body: other.subarray(split),
      headers: { 'Content-Range': `${split}-${other.length - 1}` },
    });
    assert.equal(put.status, 201, put.body.toString());
    assert.deepEqual((await http('GET', url(`/v2/rs/app/blobs/${sha256(other)}`))).body, other);
  });

  it('a wrong digest after the restart is still DIGEST_INVALID (the hash is rebuilt from disk)', async () => {
    const loc = await startUpload();
    assert.equal((await http('PATCH', url(loc), { body: 'before' })).status, 202);
    await node.close();
    node = await startTestNode(overrides, dir);
    expectError(await http('PUT', url(`${loc}?digest=${sha256('beforeX')}`), { body: 'after' }), 400, 'DIGEST_INVALID');
    expectError(await http('GET', url(`/v2/rs/app/blobs/${sha256('beforeafter')}`)), 404, 'BLOB_UNKNOWN');
  });

  it('tags and manifests pushed before the restart are still served', async () => {
    const tags = await http('GET', url('/v2/rs/app/tags/list'));
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json(), { name: 'rs/app', tags: ['multi', 'v1', 'v2'] });
    for (const ref of ['v1', image.digest]) {
      const res = await http('GET', url(`/v2/rs/app/manifests/${ref}`));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, image.manifest);
      assert.equal(res.header('content-type'), 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(res.header('docker-content-digest'), image.digest);
    }
    const idx = await http('GET', url('/v2/rs/app/manifests/multi'));
    assert.deepEqual(idx.body, index);
    assert.equal(idx.header('content-type'), 'application/vnd.oci.image.index.v1+json');
    for (const d of [image.config, ...image.layers]) assert.equal((await http('HEAD', url(`/v2/rs/app/blobs/${d}`))).status, 200);
    assert.deepEqual((await http('GET', url(`/v2/rs/app/blobs/${image.layers[0]}`))).body.toString(), 'layer one');
    const catalog = await http('GET', url('/v2/_catalog'));
    assert.deepEqual(catalog.json(), { repositories: ['rs/app'] });
  });

  describe('upload expiry', () => {
    const maxAgeMs = (): number => node.config.uploads.maxAgeSeconds * 1000;

    it('a session older than uploads.maxAgeSeconds is removed with its data by expire(0)', async () => {
      const loc = await startUpload();
      const id = loc.slice(loc.lastIndexOf('/') + 1);
      assert.equal((await http('PATCH', url(loc), { body: 'stale bytes' })).status, 202);
      const staged = join(dir, 'uploads', id);
      assert.ok(await exists(staged), 'staging file expected at uploads/<id>');

      // Make the session measurably older than the limit (0 s): its last activity was a minute ago.
      const session = await node.stores.meta.getUpload(id);
      assert.ok(session);
      await node.stores.meta.putUpload({ ...session, updated: session.updated - 60_000 });

      assert.equal(maxAgeMs(), 0);
      const expired = await node.registry.uploads.expire(maxAgeMs());
      assert.ok(expired.sessions >= 1, JSON.stringify(expired));
      assert.equal(await node.stores.meta.getUpload(id), undefined);
      assert.equal(await node.stores.staging.uploadSize(id), undefined);
      assert.equal(await exists(staged), false);
      expectError(await http('GET', url(loc)), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await http('PATCH', url(loc), { body: 'more' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('a recent session survives expiry', async () => {
      const loc = await startUpload();
      assert.equal((await http('PATCH', url(loc), { body: 'fresh' })).status, 202);
      await node.registry.uploads.expire(60_000);
      const res = await http('GET', url(loc));
      assert.equal(res.status, 204);
      assert.equal(res.header('range'), '0-4');
    });

    it('staged data without a session is removed by expire(0)', async () => {
      const id = 'stray-upload-without-session';
      await node.stores.staging.createUpload(id);
      await node.stores.staging.appendUpload(id, Readable.from([Buffer.from('orphan')]));
      const staged = join(dir, 'uploads', id);
      assert.ok(await exists(staged));
      const past = new Date(Date.now() - 60_000);
      await utimes(staged, past, past);
      const expired = await node.registry.uploads.expire(maxAgeMs());
      assert.ok(expired.leftovers >= 1, JSON.stringify(expired));
      assert.equal(await exists(staged), false);
    });

    it('blobs, manifests and tags are untouched by upload expiry', async () => {
      await node.registry.uploads.expire(0);
      assert.equal((await http('GET', url('/v2/rs/app/manifests/v1'))).status, 200);
      assert.equal((await http('GET', url(`/v2/rs/app/blobs/${sha256(data)}`))).status, 200);
    });
  });
});
