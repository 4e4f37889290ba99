import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { digestOf, isOciError, type Digest } from 'georeg/oci';
import { heldIn, withAzurite } from '../support/azurite.js';
import { storageDriverSuite } from '../support/driver-suite.js';
import { AzureBlobDriver } from '../../src/storage/azure-driver.js';

const MiB = 1024 * 1024;

describe('Azure Blob Storage', function () {
  this.timeout(60_000);
  const azurite = withAzurite();
  storageDriverSuite('AzureBlobDriver over Azurite', () => azurite.backend());

  describe('AzureBlobDriver: what the suite cannot see', () => {
    let container: ContainerClient;
    /** Two instances over one container, each with clients of its own: two nodes. */
    let a: AzureBlobDriver;
    let b: AzureBlobDriver;
    const body = randomBytes(3 * MiB + 17);
    const digest = digestOf(body);

    beforeEach(async () => {
      container = await azurite.container();
      a = new AzureBlobDriver(container, { blockBytes: MiB });
      b = new AzureBlobDriver(azurite.client(container.containerName), { blockBytes: MiB });
    });
    afterEach(async () => {
      await container.delete();
    });

    it('an upload begun on one instance is continued, digested and committed on another', async () => {
      await a.createUpload('u1');
      assert.equal(await a.appendUpload('u1', Readable.from([body.subarray(0, MiB + 5)])), MiB + 5);
      assert.equal(await b.uploadSize('u1'), MiB + 5);
      assert.equal(await b.appendUpload('u1', Readable.from([body.subarray(MiB + 5)])), body.length);
      // a's running hash covers its own append only: it must see that and read the bytes back.
      assert.equal(await a.digestUpload('u1', 'sha256'), digest);
      assert.equal(await b.digestUpload('u1', 'sha256'), digest);
      assert.deepEqual(await collect(a.listUploads()), await collect(b.listUploads()));
      await b.commitUpload('u1', digest);
      assert.ok((await a.readAll(digest)).equals(body));
      assert.deepEqual(await collect(a.listUploads()), []);
      assert.deepEqual(await heldIn(container), [`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`]);
    });

    it('never shows a blob under a digest when bytes came after its verification', async () => {
      await a.createUpload('u1');
      await a.appendUpload('u1', Readable.from([body]));
      assert.equal(await a.digestUpload('u1', 'sha256'), digest);
      await b.appendUpload('u1', Readable.from([Buffer.from('smuggled')])); // another node, between digest and commit
      await assert.rejects(a.commitUpload('u1', digest), (e: unknown) => isOciError(e, 'BLOB_UPLOAD_INVALID'));
      assert.equal(await a.stat(digest), undefined);
      assert.equal(await b.stat(digest), undefined);
      assert.deepEqual(await collect(a.list()), []);
      assert.equal(await a.uploadSize('u1'), body.length + 'smuggled'.length, 'the upload keeps every byte');
      assert.deepEqual(await heldIn(container), ['uploads/u1']);
    });

    it('of two appends at once from two instances, one lands whole and the other is refused', async () => {
      await a.createUpload('u1');
      let reading: () => void = () => undefined;
      const began = new Promise<void>((resolve) => (reading = resolve));
      const slow = new Readable({ read: () => reading() }); // read once a's append has its starting version
      const first = a.appendUpload('u1', slow);
      slow.push(body.subarray(0, 10));
      await began;
      const second = await b.appendUpload('u1', Readable.from([Buffer.from('other')])); // commits while a's is open
      assert.equal(second, 5);
      slow.push(body.subarray(10, 20));
      slow.push(null);
      await assert.rejects(first, (e: unknown) => isOciError(e, 'BLOB_UPLOAD_INVALID'));
      assert.equal(await a.digestUpload('u1', 'sha256'), digestOf('other'), "only the landed append's bytes are staged");
    });

    it('stages a 16 MiB append in blocks of at most blockBytes as it arrives, holding at most three', async () => {
      const total = 16 * MiB;
      const staging = container.getBlockBlobClient('uploads/big');
      const uncommitted = async (): Promise<number> =>
        ((await staging.getBlockList('uncommitted')).uncommittedBlocks ?? []).reduce((n, blk) => n + blk.size, 0);
      let produced = 0;
      let widest = 0;
      const hash = createHash('sha256');
      async function* source(): AsyncGenerator<Buffer> {
        for (; produced < total;) {
          if (produced % MiB === 0) widest = Math.max(widest, produced - (await uncommitted()));
          const chunk = randomBytes(64 * 1024);
          hash.update(chunk);
          produced += chunk.length;
          yield chunk;
        }
      }
      await a.createUpload('big');
      assert.equal(await a.appendUpload('big', Readable.from(source())), total);
      // Read ahead of what reached Azure: three blocks (two being sent, one filling) and the stream's buffer (16 chunks).
      assert.ok(widest <= 3 * MiB + 16 * 64 * 1024, `read ${widest} bytes ahead of the staged blocks`);
      const { committedBlocks = [] } = await staging.getBlockList('committed');
      assert.equal(committedBlocks.length, 16);
      assert.ok(committedBlocks.every((blk) => blk.size === MiB));
      assert.equal(await b.digestUpload('big', 'sha256'), `sha256:${hash.digest('hex')}` as Digest);
    });

    it('signs a read-only URL of one blob that downloads it without credentials until it expires', async () => {
      await a.putBlob(digest, body);
      const url = new URL(await a.signedUrl(digest, 60));
      assert.equal(url.searchParams.get('sp'), 'r');
      assert.equal(url.searchParams.get('sr'), 'b');
      const expires = Date.parse(url.searchParams.get('se') ?? '');
      assert.ok(Math.abs(expires - (Date.now() + 60_000)) < 5_000, `se ${url.searchParams.get('se')}`);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
      assert.equal((await fetch(await a.signedUrl(digest, -60))).status, 403, 'an expired URL is refused');
      const other = digestOf('other');
      await a.putBlob(other, Buffer.from('other'));
      const elsewhere = new URL(url);
      elsewhere.pathname = url.pathname.replace(/blobs\/.*$/, `blobs/sha256/${other.slice(7, 9)}/${other.slice(7)}`);
      assert.equal((await fetch(elsewhere)).status, 403, "the URL is no credential for another blob's name");
    });
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
