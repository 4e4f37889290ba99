import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { digestHex, digestOf, type Digest, isOciError } from 'georeg/oci';
import { storageDriverSuite, type StorageBackend } from '../support/driver-suite.js';
import type { BlobStore, UploadStaging } from '../../src/storage/driver.js';
import { FsBlobDriver, type FsDriverOptions } from '../../src/storage/fs-driver.js';
import { MemoryBlobDriver } from '../../src/storage/memory-driver.js';
import { CachingBlobStore } from '../../src/storage/caching-store.js';

storageDriverSuite('MemoryBlobDriver', async () => inMemory());
storageDriverSuite('FsBlobDriver', () => onDisk());
// Staging files written through the page cache, as on a filesystem without direct I/O.
storageDriverSuite('FsBlobDriver with directIo false', () => onDisk({ directIo: false }));
// Small limits so that the suite's blobs go through both the cached and the streamed paths.
storageDriverSuite('CachingBlobStore over FsBlobDriver', () =>
  onDisk({}, (d) => new CachingBlobStore(d, { maxBytes: 64 * 1024, maxItemBytes: 16 * 1024 })),
);

/** A memory driver: what it holds is what it lists. */
function inMemory(): StorageBackend {
  const driver = new MemoryBlobDriver();
  const held = async () => [
    ...(await collect(driver.list())).map((b) => b.digest),
    ...(await collect(driver.listUploads())).map((u) => `upload ${u.id}`),
  ];
  return { blobs: driver, staging: driver, held, cleanup: async () => {} };
}

/** An fs driver in a temp directory (its blobs seen through `blobs`, by default the driver itself): what it holds is every file there. */
async function onDisk(options: FsDriverOptions = {}, blobs: (driver: FsBlobDriver) => BlobStore = (d) => d): Promise<StorageBackend> {
  const root = await tempRoot();
  const driver = await FsBlobDriver.open(root, options);
  return {
    blobs: blobs(driver),
    staging: driver,
    held: async () =>
      (await fs.readdir(root, { recursive: true, withFileTypes: true }))
        .filter((e) => !e.isDirectory())
        .map((e) => join(e.parentPath, e.name)),
    cleanup: () => fs.rm(root, { recursive: true, force: true }),
  };
}

describe('FsBlobDriver on disk', () => {
  const body = Buffer.from('on-disk layout test');
  const digest = digestOf(body);
  const hex = digestHex(digest);
  let root: string;
  let driver: FsBlobDriver;

  beforeEach(async () => {
    root = await tempRoot();
    driver = await FsBlobDriver.open(root);
  });
  afterEach(async () => {
    await driver.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('stages uploads at uploads/<id> and commits to blobs/<alg>/<first two hex>/<hex>', async () => {
    await driver.createUpload('u1');
    await driver.appendUpload('u1', Readable.from([body]));
    assert.deepEqual(await fs.readFile(join(root, 'uploads', 'u1')), body);
    await driver.commitUpload('u1', digest);
    assert.deepEqual(await fs.readFile(join(root, 'blobs', 'sha256', hex.slice(0, 2), hex)), body);
    assert.deepEqual(await fs.readdir(join(root, 'uploads')), []);
  });

  it('never lists a crash-leftover upload or stray files as blobs', async () => {
    await put(driver, body);
    await fs.writeFile(join(root, 'uploads', 'crashed'), body.subarray(0, 5)); // half-written upload
    await fs.writeFile(join(root, 'uploads', 'stray.tmp'), 'x');
    const shard = join(root, 'blobs', 'sha256', hex.slice(0, 2));
    const other = digestHex(digestOf('other'));
    await fs.writeFile(join(shard, `${hex}.tmp`), 'x');
    await fs.writeFile(join(shard, hex.slice(1)), 'x'); // wrong length
    await fs.writeFile(join(shard, other), 'x'); // valid hex in the wrong shard
    await fs.mkdir(join(root, 'blobs', 'sha256', 'zz'));
    await fs.writeFile(join(root, 'blobs', 'sha256', 'zz', other), 'x');
    await fs.mkdir(join(root, 'blobs', 'md5', hex.slice(0, 2)), { recursive: true });
    await fs.writeFile(join(root, 'blobs', 'md5', hex.slice(0, 2), hex), 'x');
    await fs.writeFile(join(root, 'blobs', 'sha256', 'README'), 'x');

    assert.deepEqual(
      (await collect(driver.list())).map((b) => b.digest),
      [digest],
    );
    assert.deepEqual(
      (await collect(driver.listUploads())).map(({ id, size }) => ({ id, size })),
      [{ id: 'crashed', size: 5 }],
    );
  });

  it('works from a bare root: the constructor touches nothing, the first upload creates directories', async () => {
    const bare = new FsBlobDriver(join(root, 'fresh'));
    assert.equal(await bare.stat(digest), undefined);
    assert.deepEqual(await collect(bare.list()), []);
    assert.deepEqual(await collect(bare.listUploads()), []);
    await put(bare, body);
    assert.deepEqual(await bare.readAll(digest), body);
  });

  it('propagates filesystem errors other than ENOENT unchanged', async () => {
    await fs.mkdir(join(root, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true });
    await assert.rejects(driver.readAll(digest), (e: unknown) => !isOciError(e) && (e as NodeJS.ErrnoException).code === 'EISDIR');
  });

  it('rebuilds an upload digest after a restart and keeps appending', async () => {
    await driver.createUpload('r1');
    await driver.appendUpload('r1', Readable.from([body.subarray(0, 5)]));
    await driver.close(); // the worker and its running hash are gone
    const restarted = await FsBlobDriver.open(root);
    try {
      await restarted.appendUpload('r1', Readable.from([body.subarray(5)]));
      assert.equal(await restarted.digestUpload('r1', 'sha256'), digest);
      await restarted.commitUpload('r1', digest);
      assert.deepEqual(await restarted.readAll(digest), body);
    } finally {
      await restarted.close();
    }
  });

  it('two instances over one root (two processes of a region) appending in turn each give the right digest', async () => {
    const other = await FsBlobDriver.open(root);
    try {
      const parts = [body.subarray(0, 4), body.subarray(4, 9), body.subarray(9, 13), body.subarray(13)];
      await driver.createUpload('shared');
      for (const [i, part] of parts.entries()) {
        await (i % 2 ? other : driver).appendUpload('shared', Readable.from([part]));
        const seen = parts.slice(0, i + 1);
        for (const d of [driver, other]) assert.equal(await d.digestUpload('shared', 'sha256'), digestOf(Buffer.concat(seen)));
      }
      await driver.commitUpload('shared', digest);
      assert.deepEqual(await other.readAll(digest), body);
    } finally {
      await other.close();
    }
  });

  it('rejects with the error of a source that fails before its first byte, with nothing uncaught', async () => {
    await driver.createUpload('early');
    const source = new Readable({ read() {} });
    const appended = driver.appendUpload('early', source);
    source.destroy(new Error('peer went away')); // while the worker is still opening the file
    await assert.rejects(appended, /peer went away/);
    assert.equal(await driver.uploadSize('early'), 0);
  });

  it('refuses a second concurrent append to one upload instead of interleaving bytes', async () => {
    await driver.createUpload('busy');
    const slow = new PassThrough();
    const first = driver.appendUpload('busy', slow);
    slow.write(body.subarray(0, 5));
    await assert.rejects(driver.appendUpload('busy', Readable.from([body])), (e: unknown) => isOciError(e, 'BLOB_UPLOAD_INVALID'));
    slow.end(body.subarray(5));
    assert.equal(await first, body.length);
    assert.equal(await driver.digestUpload('busy', 'sha256'), digest, "only the first writer's bytes are staged");
  });

  it('never puts filesystem paths in OciErrors', async () => {
    const failing = [
      () => driver.read(digest),
      () => driver.digestUpload('../../etc', 'sha256'),
      () => driver.appendUpload('gone', Readable.from([body])),
    ];
    for (const call of failing) {
      await assert.rejects(call(), (e: unknown) => isOciError(e) && !JSON.stringify([e.message, e.toBody()]).includes(root));
    }
  });
});

async function tempRoot(): Promise<string> {
  return fs.mkdtemp(join(tmpdir(), 'georeg-test-'));
}

async function put(driver: UploadStaging, body: Buffer): Promise<Digest> {
  const digest = digestOf(body);
  await driver.createUpload('put');
  await driver.appendUpload('put', Readable.from([body]));
  await driver.commitUpload('put', digest);
  return digest;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
