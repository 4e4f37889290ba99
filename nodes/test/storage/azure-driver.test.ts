import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { digestOf, isOciError } from 'georeg/oci';
import { heldIn, withAzurite } from '../support/azurite.js';
import { storageDriverSuite } from '../support/driver-suite.js';
import { measuredSource } from '../support/read-ahead.js';
import { sharedStoreSuite } from '../support/shared-store-suite.js';
import { AzureBlobDriver } from '../../src/storage/azure-driver.js';

const MiB = 1024 * 1024;

describe('Azure Blob Storage', function () {
  this.timeout(60_000);
  const azurite = withAzurite();
  storageDriverSuite('AzureBlobDriver over Azurite', () => azurite.backend());
  sharedStoreSuite('two AzureBlobDriver instances over one container', async () => {
    const container = await azurite.container();
    return {
      a: new AzureBlobDriver(container, { blockBytes: MiB }),
      b: new AzureBlobDriver(azurite.client(container.containerName), { blockBytes: MiB }),
      held: () => heldIn(container),
      cleanup: async () => void (await container.delete()),
    };
  });

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
      const measured = measuredSource(total, uncommitted);
      await a.createUpload('big');
      assert.equal(await a.appendUpload('big', measured.source), total);
      // Read ahead of what reached Azure: three blocks (two being sent, one filling) and the stream's buffer (16 chunks).
      assert.ok(measured.widest() <= 3 * MiB + 16 * 64 * 1024, `read ${measured.widest()} bytes ahead of the staged blocks`);
      const { committedBlocks = [] } = await staging.getBlockList('committed');
      assert.equal(committedBlocks.length, 16);
      assert.ok(committedBlocks.every((blk) => blk.size === MiB));
      assert.equal(await b.digestUpload('big', 'sha256'), measured.digest());
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
