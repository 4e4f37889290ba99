/**
 * What a driver over a store that several nodes share (Azure Blob, S3) owes beyond the driver suite:
 * two instances over one store, each with clients of its own, are two nodes; an upload's state is
 * the store's, and nothing but verified bytes ever appears under a digest.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf, isOciError } from 'georeg/oci';
import type { BlobStore, UploadStaging } from '../../src/storage/driver.js';

type Driver = BlobStore & UploadStaging;

export interface SharedStore {
  /** Two instances over one fresh store. */
  a: Driver;
  b: Driver;
  /** Every name the store holds, whatever the drivers' interfaces show (parts of multipart uploads included). */
  held(): Promise<string[]>;
  /** Remove the store. */
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

export function sharedStoreSuite(name: string, make: () => Promise<SharedStore>): void {
  describe(name, () => {
    let store: SharedStore;
    let a: Driver;
    let b: Driver;
    /** Larger than a block or piece of either driver's tests: committed from several. */
    const body = randomBytes(6 * MiB + 17);
    const digest = digestOf(body);

    beforeEach(async () => {
      store = await make();
      ({ a, b } = store);
    });
    afterEach(() => store.cleanup());

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
      assert.deepEqual(await store.held(), [`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`]);
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
      assert.deepEqual(
        (await store.held()).filter((n) => n.startsWith('blobs/')),
        [],
      );
    });
  });
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
