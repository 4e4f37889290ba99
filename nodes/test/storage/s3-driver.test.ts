import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, type Digest } from 'georeg/oci';
import { S3RVER_KEY_ID, S3RVER_REGION, S3RVER_SECRET } from 'georeg/test-support';
import { withS3rver } from '../support/s3rver.js';
import { storageDriverSuite } from '../support/driver-suite.js';
import { measuredSource } from '../support/read-ahead.js';
import { sharedStoreSuite } from '../support/shared-store-suite.js';
import { MIN_PART_BYTES, S3BlobDriver } from '../../src/storage/s3-driver.js';
import { openS3Driver } from '../../src/storage/s3-setup.js';
import { ConfigError, defaultConfig } from '../../src/config.js';
import type { Bucket } from '../../src/storage/s3-objects.js';

const MiB = 1024 * 1024;
const PIECE = MIN_PART_BYTES;
/** A blob's key. */
const blobKey = (d: Digest, prefix = ''): string => `${prefix}blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}`;

describe('S3', function () {
  this.timeout(60_000);
  const s3rver = withS3rver();
  storageDriverSuite('S3BlobDriver over s3rver', () => s3rver.backend());
  // s3rver cannot abort a multipart upload (MethodNotAllowed): when a commit refuses bytes that do
  // not hash to the digest, the parts it sent stay in s3rver's directory (S3 drops them on abort).
  sharedStoreSuite('two S3BlobDriver instances over one bucket', async () => {
    const bucket = await s3rver.bucket();
    return {
      a: new S3BlobDriver(bucket, { pieceBytes: PIECE }),
      b: new S3BlobDriver({ ...bucket, client: s3rver.client() }, { pieceBytes: PIECE }),
      held: () => s3rver.held(bucket.name),
      cleanup: () => s3rver.drop(bucket.name),
    };
  });

  describe('S3BlobDriver: what the suite cannot see', () => {
    let bucket: Bucket;
    /** Two instances over one bucket, each with a client of its own: two nodes. */
    let a: S3BlobDriver;
    let b: S3BlobDriver;
    const body = randomBytes(PIECE + 3 * MiB + 17);
    const digest = digestOf(body);

    beforeEach(async () => {
      bucket = await s3rver.bucket();
      a = new S3BlobDriver(bucket, { pieceBytes: PIECE });
      b = new S3BlobDriver({ ...bucket, client: s3rver.client() }, { pieceBytes: PIECE });
    });

    it('cuts appends into pieces of pieceBytes, rewriting a short last piece, holding at most two pieces ahead', async () => {
      await a.createUpload('small');
      for (let i = 0; i < 3; i++) await a.appendUpload('small', Readable.from([body.subarray(i * MiB, (i + 1) * MiB)]));
      assert.deepEqual(await pieceFiles('small'), ['0000000000000000'], 'three small chunks make one piece');
      assert.equal(await b.digestUpload('small', 'sha256'), digestOf(body.subarray(0, 3 * MiB)));

      const total = 16 * MiB;
      const measured = measuredSource(total, async () => (await b.uploadSize('big')) ?? 0);
      await a.createUpload('big');
      assert.equal(await a.appendUpload('big', measured.source), total);
      // Read ahead of what reached S3: two pieces (one being put, one filling) and the stream's buffer (16 chunks).
      assert.ok(measured.widest() <= 2 * PIECE + 16 * 64 * 1024, `read ${measured.widest()} bytes ahead of the pieces put`);
      assert.deepEqual(
        await pieceFiles('big'),
        [0, 1, 2, 3].map((i) => String(i * PIECE).padStart(16, '0')),
      );
      assert.equal(await b.digestUpload('big', 'sha256'), measured.digest());
    });

    it('keeps every key under its prefix, and a driver under another prefix sees none of them', async () => {
      const eu = new S3BlobDriver({ ...bucket, prefix: 'georeg/eu/' });
      const us = new S3BlobDriver({ ...bucket, prefix: 'georeg/us/' });
      await eu.putBlob(digest, body);
      await eu.createUpload('u1');
      await eu.appendUpload('u1', Readable.from([Buffer.from('staged')]));
      assert.deepEqual(
        (await collect(eu.list())).map((i) => i.digest),
        [digest],
      );
      assert.ok((await s3rver.held(bucket.name)).every((f) => f.startsWith('georeg/eu/')));
      assert.equal(await us.stat(digest), undefined);
      assert.deepEqual(await collect(us.list()), []);
      assert.deepEqual(await collect(us.listUploads()), []);
      assert.equal(await us.uploadSize('u1'), undefined);
    });

    it('presigns a GetObject URL of one blob that downloads it without credentials until it expires', async () => {
      await a.putBlob(digest, body);
      const url = new URL(await a.signedUrl(digest, 60));
      assert.equal(url.searchParams.get('X-Amz-Expires'), '60');
      assert.ok(url.pathname.endsWith(`/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`));
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
      assert.equal((await fetch(await a.signedUrl(digest, -60))).status, 403, 'an expired URL is refused');
      // s3rver does not check SigV4 signatures, so that the URL is no credential for another key is S3's to show.
    });

    async function pieceFiles(id: string): Promise<string[]> {
      return (await s3rver.held(bucket.name))
        .filter((key) => key.startsWith(`uploads/${id}/`))
        .map((key) => key.slice(`uploads/${id}/`.length));
    }
  });

  describe('openS3Driver: storage.s3 at start', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'georeg-s3-setup-'));
      await writeFile(join(dir, 'id'), `${S3RVER_KEY_ID}\n`);
      await writeFile(join(dir, 'secret'), S3RVER_SECRET);
      await writeFile(join(dir, 'wrong-id'), 'NOT-A-KEY-ID');
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const settings = (more: Partial<typeof defaultConfig.storage.s3>): typeof defaultConfig.storage.s3 => ({
      ...defaultConfig.storage.s3,
      region: S3RVER_REGION,
      endpoint: s3rver.server().endpoint,
      forcePathStyle: true,
      accessKeyIdFile: join(dir, 'id'),
      secretAccessKeyFile: join(dir, 'secret'),
      ...more,
    });

    it('opens a driver over a bucket that is there, with the key pair read from its files', async () => {
      const { name } = await s3rver.bucket();
      const driver = await openS3Driver(settings({ bucket: name, prefix: 'p/' }));
      await driver.putBlob(digestOf('x'), Buffer.from('x'));
      assert.ok((await s3rver.held(name)).includes(blobKey(digestOf('x'), 'p/')));
    });

    it('stops with a ConfigError naming the setting: no such bucket, an unknown key, an unreadable key file', async () => {
      const refused = async (s: typeof defaultConfig.storage.s3, message: RegExp): Promise<void> => {
        await assert.rejects(
          openS3Driver(s),
          (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes(S3RVER_SECRET),
        );
      };
      await refused(
        settings({ bucket: 'absent-bucket' }),
        /^storage\.s3: cannot reach bucket absent-bucket at http:\/\/127\.0\.0\.1:\d+: NotFound/,
      );
      const { name } = await s3rver.bucket();
      await refused(settings({ bucket: name, accessKeyIdFile: join(dir, 'wrong-id') }), /^storage\.s3: cannot reach bucket .*: .*HTTP 403/);
      await refused(
        settings({ bucket: name, secretAccessKeyFile: join(dir, 'absent') }),
        /^storage\.s3\.secretAccessKeyFile: cannot read .*absent: ENOENT/,
      );
    });
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
