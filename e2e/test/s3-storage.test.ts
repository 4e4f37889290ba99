/**
 * Black box: `georeg serve` with its blobs in a bucket of s3rver (a real S3 API on a port of its
 * choosing), pushed to and pulled from with the real skopeo, the offline test image
 * /tmp/lab-images/small; pulled back byte for byte, through the node and, with storage.s3.redirect,
 * straight from the store by presigned URL; and a blob pushed in chunks that cross the driver's
 * 8 MiB pieces, committed under the right digest as one object.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { apiPaths } from 'georeg/oci';
import { http, S3RVER_KEY_ID, S3RVER_REGION, S3RVER_SECRET, sha256, startS3rver, type S3rver } from 'georeg/test-support';
import { GeoregNode } from './support/process.js';
import { Skopeo } from './support/skopeo.js';
import { blobGets, requireSmallImage, roundTrip, stopAfter } from './support/storage-round-trip.js';

const MiB = 1024 * 1024;

describe('georeg serve on S3 (s3rver), with skopeo (e2e, black box)', function () {
  this.timeout(120_000);
  let s3rver: S3rver;
  let s3: S3Client;
  let tmp: string;
  let skopeo: Skopeo;
  let node: GeoregNode | undefined;

  before(async function () {
    requireSmallImage();
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-s3-'));
    await writeFile(join(tmp, 's3.id'), S3RVER_KEY_ID);
    await writeFile(join(tmp, 's3.secret'), S3RVER_SECRET);
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
    s3rver = await startS3rver();
    const credentials = { accessKeyId: S3RVER_KEY_ID, secretAccessKey: S3RVER_SECRET };
    s3 = new S3Client({ endpoint: s3rver.endpoint, region: S3RVER_REGION, forcePathStyle: true, credentials });
  });
  afterEach(async function () {
    const stopping = node;
    node = undefined;
    await stopAfter(this.currentTest, stopping);
  });
  after(async () => {
    s3?.destroy();
    await s3rver?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A node over a bucket of its own; `redirect` sends blob GETs to the store. */
  async function start(bucket: string, redirect: boolean): Promise<GeoregNode> {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return (node = await GeoregNode.start({
      name: bucket,
      env: {
        GEOREG_STORAGE_DRIVER: 's3',
        GEOREG_STORAGE_S3_ENDPOINT: s3rver.endpoint,
        GEOREG_STORAGE_S3_FORCE_PATH_STYLE: 'true',
        GEOREG_STORAGE_S3_REGION: S3RVER_REGION,
        GEOREG_STORAGE_S3_BUCKET: bucket,
        GEOREG_STORAGE_S3_PREFIX: 'eu/',
        GEOREG_STORAGE_S3_ACCESS_KEY_ID_FILE: join(tmp, 's3.id'),
        GEOREG_STORAGE_S3_SECRET_ACCESS_KEY_FILE: join(tmp, 's3.secret'),
        GEOREG_STORAGE_S3_REDIRECT: String(redirect),
      },
    }));
  }

  /** Every key of the bucket. */
  async function keys(bucket: string): Promise<string[]> {
    const all: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket }))
      all.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    return all.sort();
  }

  it('pushes with skopeo and pulls back byte-identical, the bytes going through the node, every key under the prefix', async () => {
    const n = await start('plain', false);
    const manifest = await roundTrip(skopeo, n, 's3/small', join(tmp, 'plain'));
    const digests = [manifest.config, ...manifest.layers].map((d) => d.digest);
    const gets = blobGets(n, manifest);
    assert.ok(gets.length > 0 && gets.every((s) => s === 200), `blob GETs answered ${gets.join(', ')}`);
    const held = await keys('plain');
    for (const d of digests) assert.ok(held.includes(`eu/blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}`), `${d} in the bucket`);
    assert.deepEqual(
      held.filter((k) => !k.startsWith('eu/blobs/')),
      [],
      'no upload staging left, nothing outside the prefix',
    );
    assert.ok(!n.stderr().includes(`"${S3RVER_SECRET}"`), 'the secret key is in no log line');
  });

  it('commits a blob pushed in chunks across pieces under the right digest', async () => {
    const n = await start('chunked', false);
    const blob = randomBytes(11 * MiB + 4321);
    const digest = sha256(blob);
    const base = n.url;
    const began = await http('POST', `${base}${apiPaths.uploads('s3/chunked')}`);
    assert.equal(began.status, 202);
    let location = began.header('location') ?? '';
    let at = 0;
    for (const size of [6 * MiB, MiB, 3 * MiB, blob.length - 10 * MiB]) {
      const chunk = blob.subarray(at, at + size);
      const res = await http('PATCH', location.startsWith('/') ? base + location : location, {
        body: chunk,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + size - 1}`, 'Content-Length': size },
      });
      assert.equal(res.status, 202, res.body.toString());
      assert.equal(res.header('range'), `0-${at + size - 1}`);
      location = res.header('location') ?? location;
      at += size;
    }
    const put = await http(
      'PUT',
      `${location.startsWith('/') ? base + location : location}${location.includes('?') ? '&' : '?'}digest=${digest}`,
    );
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(put.header('docker-content-digest'), digest);
    const got = await http('GET', `${base}${apiPaths.blob('s3/chunked', digest)}`);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(blob), 'the blob reads back byte for byte');
    assert.deepEqual(await keys('chunked'), [`eu/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`], 'one object, no piece left');
  });

  it('with storage.s3.redirect, skopeo downloads the layers from the store by 307', async () => {
    const n = await start('redirected', true);
    const manifest = await roundTrip(skopeo, n, 's3/small', join(tmp, 'redirected'));
    const gets = blobGets(n, manifest);
    assert.ok(gets.length > 0 && gets.every((s) => s === 307), `blob GETs answered ${gets.join(', ')}`);
    assert.ok(!/X-Amz-Signature=/i.test(n.stderr()), 'no presigned URL is logged');
  });
});
