/**
 * THE storage driver suite: every backend registers it in one line from its test
 * file, `storageDriverSuite('name', make)`, where `make` returns a fresh, empty
 * backend. Its teardown (as Distribution's TearDownTest) removes through the
 * interfaces every blob and upload a test made, then fails when the backend
 * still holds anything underneath: a file or entry nothing lists or removes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { digestOf, type Digest, isOciError, type ErrorKind } from 'georeg/oci';
import type { BlobStore, UploadStaging } from '../../src/storage/driver.js';

/** A fresh, empty backend under test. */
export interface StorageBackend {
  blobs: BlobStore;
  staging: UploadStaging;
  /** What the backend holds underneath, whatever its interfaces show (the fs driver: every file under its root). */
  held(): Promise<string[]>;
  /** Remove what the backend was made in (a temp directory). */
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
const hello = Buffer.from('hello, georeg: the quick brown fox jumps over the lazy dog');

export function storageDriverSuite(name: string, make: () => Promise<StorageBackend>): void {
  describe(name, () => {
    let backend: StorageBackend;
    let blobs: BlobStore;
    let staging: UploadStaging;

    beforeEach(async () => {
      backend = await make();
      ({ blobs, staging } = backend);
    });
    afterEach(async () => {
      try {
        for (const { digest } of await collect(blobs.list())) assert.equal(await blobs.delete(digest), true, `delete ${digest}`);
        for (const { id } of await collect(staging.listUploads()))
          assert.equal(await staging.deleteUpload(id), true, `delete upload ${id}`);
        assert.deepEqual(await backend.held(), [], `${name} left behind what neither list() nor listUploads() shows`);
      } finally {
        await staging.close();
        await backend.cleanup();
      }
    });

    describe('committed blobs', () => {
      it('stat is undefined for an absent blob and the size for a present one', async () => {
        assert.equal(await blobs.stat(digestOf(hello)), undefined);
        const d = await put(staging, hello);
        assert.equal(await blobs.stat(d), hello.length);
      });

      it('reads a whole blob and readAll returns it', async () => {
        const d = await put(staging, hello);
        assert.deepEqual(await bytes(await blobs.read(d)), hello);
        assert.deepEqual(await blobs.readAll(d), hello);
      });

      it('reads inclusive ranges: first byte, last byte, middle, everything', async () => {
        const d = await put(staging, hello);
        const last = hello.length - 1;
        for (const [start, end] of [
          [0, 0],
          [last, last],
          [7, 12],
          [0, last],
        ] as const) {
          assert.deepEqual(await bytes(await blobs.read(d, { start, end })), hello.subarray(start, end + 1), `${start}-${end}`);
        }
      });

      it('rejects ranges outside the blob with RANGE_INVALID', async () => {
        const d = await put(staging, hello);
        for (const [start, end] of [
          [0, hello.length],
          [5, 4],
          [-1, 3],
          [1.5, 3],
        ]) {
          await rejectsWith(blobs.read(d, { start, end }), 'RANGE_INVALID');
        }
      });

      it('writeTo copies a blob or a range into a sink without ending it', async () => {
        const d = await put(staging, hello);
        const whole = sink();
        await blobs.writeTo(d, whole.writable);
        assert.deepEqual(whole.bytes(), hello);
        assert.equal(whole.writable.writableEnded, false);
        const part = sink();
        await blobs.writeTo(d, part.writable, { start: 3, end: 9 });
        assert.deepEqual(part.bytes(), hello.subarray(3, 10));
        await rejectsWith(blobs.writeTo(d, sink().writable, { start: 0, end: hello.length }), 'RANGE_INVALID');
        await rejectsWith(blobs.writeTo(digestOf('absent'), sink().writable), 'BLOB_UNKNOWN');
      });

      it('putBlob stores small bytes in one step, keeps an existing blob, and leaves no upload behind', async () => {
        const d = digestOf(hello);
        await blobs.putBlob(d, hello);
        assert.deepEqual(await blobs.readAll(d), hello);
        await blobs.putBlob(d, hello);
        assert.equal(await blobs.stat(d), hello.length);
        await Promise.all(Array.from({ length: 10 }, () => blobs.putBlob(digestOf('racing'), Buffer.from('racing'))));
        assert.deepEqual(await blobs.readAll(digestOf('racing')), Buffer.from('racing'));
        assert.deepEqual(await collect(staging.listUploads()), []);
      });

      it('rejects read and readAll of an absent blob with BLOB_UNKNOWN', async () => {
        await rejectsWith(blobs.read(digestOf(hello)), 'BLOB_UNKNOWN');
        await rejectsWith(blobs.read(digestOf(hello), { start: 0, end: 0 }), 'BLOB_UNKNOWN');
        await rejectsWith(blobs.readAll(digestOf(hello)), 'BLOB_UNKNOWN');
      });

      it('stores an empty blob and a sha512 blob', async () => {
        const empty = await put(staging, Buffer.alloc(0));
        assert.equal(await blobs.stat(empty), 0);
        assert.equal((await bytes(await blobs.read(empty))).length, 0);
        const d512 = await put(staging, hello, 'u512', 'sha512');
        assert.deepEqual(await blobs.readAll(d512), hello);
        assert.equal(await blobs.stat(digestOf(hello)), undefined);
      });

      it('delete returns true once, then false, and the blob is gone', async () => {
        const d = await put(staging, hello);
        assert.equal(await blobs.delete(d), true);
        assert.equal(await blobs.delete(d), false);
        assert.equal(await blobs.stat(d), undefined);
        await rejectsWith(blobs.read(d), 'BLOB_UNKNOWN');
      });

      it('lists every committed blob with size and commit time', async () => {
        assert.deepEqual(await collect(blobs.list()), []);
        const before = Date.now() - 5000;
        const bodies = [hello, Buffer.from('second'), Buffer.alloc(0)];
        for (const [i, body] of bodies.entries()) await put(staging, body, `p${i}`);
        const listed = await collect(blobs.list());
        assert.deepEqual(
          listed.map(({ digest, size }) => ({ digest, size })).sort(byDigest),
          bodies.map((b) => ({ digest: digestOf(b), size: b.length })).sort(byDigest),
        );
        for (const { modified } of listed) assert.ok(modified >= before && modified <= Date.now() + 5000, `modified ${modified}`);
      });

      it('rejects malformed digests with DIGEST_INVALID', async () => {
        const bad = 'sha256:../../../etc/passwd' as Digest;
        await rejectsWith(blobs.stat(bad), 'DIGEST_INVALID');
        await rejectsWith(blobs.read(bad), 'DIGEST_INVALID');
        await rejectsWith(blobs.readAll(bad), 'DIGEST_INVALID');
        await rejectsWith(blobs.delete(bad), 'DIGEST_INVALID');
        await staging.createUpload('u');
        await rejectsWith(staging.commitUpload('u', bad), 'DIGEST_INVALID');
        assert.equal(await staging.uploadSize('u'), 0);
      });
    });

    describe('uploads', () => {
      it('creates an empty upload, appends chunks, reports sizes and reads back', async () => {
        await staging.createUpload('u1');
        assert.equal(await staging.uploadSize('u1'), 0);
        assert.equal(await staging.appendUpload('u1', Readable.from([hello.subarray(0, 10)])), 10);
        assert.equal(await staging.appendUpload('u1', Readable.from([hello.subarray(10, 20), hello.subarray(20, 30)])), 30);
        assert.equal(await staging.appendUpload('u1', Readable.from([hello.subarray(30)])), hello.length);
        assert.equal(await staging.uploadSize('u1'), hello.length);
        assert.equal(await staging.digestUpload('u1', 'sha256'), digestOf(hello));
        assert.equal(await staging.digestUpload('u1', 'sha512'), digestOf(hello, 'sha512'));
      });

      it('createUpload is idempotent and keeps the bytes', async () => {
        await staging.createUpload('u1');
        await staging.appendUpload('u1', Readable.from([hello]));
        await staging.createUpload('u1');
        assert.equal(await staging.uploadSize('u1'), hello.length);
      });

      it('rejects operations on an unknown upload with BLOB_UPLOAD_UNKNOWN', async () => {
        assert.equal(await staging.uploadSize('nope'), undefined);
        await rejectsWith(staging.appendUpload('nope', Readable.from([hello])), 'BLOB_UPLOAD_UNKNOWN');
        await rejectsWith(staging.digestUpload('nope', 'sha256'), 'BLOB_UPLOAD_UNKNOWN');
        await rejectsWith(staging.commitUpload('nope', digestOf(hello)), 'BLOB_UPLOAD_UNKNOWN');
        assert.equal(await staging.uploadSize('nope'), undefined, 'append must not create the upload');
      });

      it('shows nothing before commit', async () => {
        await staging.createUpload('u1');
        await staging.appendUpload('u1', Readable.from([hello]));
        assert.equal(await blobs.stat(digestOf(hello)), undefined);
        await rejectsWith(blobs.read(digestOf(hello)), 'BLOB_UNKNOWN');
        assert.deepEqual(await collect(blobs.list()), []);
      });

      it('commit makes the blob visible and removes the upload', async () => {
        const d = await put(staging, hello, 'u1');
        assert.deepEqual(await blobs.readAll(d), hello);
        assert.equal(await staging.uploadSize('u1'), undefined);
        assert.deepEqual(await collect(staging.listUploads()), []);
        await rejectsWith(staging.commitUpload('u1', d), 'BLOB_UPLOAD_UNKNOWN');
      });

      it('commit of a blob that already exists discards the upload and keeps the blob', async () => {
        const d = await put(staging, hello, 'u1');
        await put(staging, hello, 'u2');
        assert.equal(await staging.uploadSize('u2'), undefined);
        assert.deepEqual(await blobs.readAll(d), hello);
        assert.equal((await collect(blobs.list())).length, 1);
      });

      it('keeps bytes appended before the source failed, rejects, and stays usable', async () => {
        const boom = new Error('client went away');
        async function* failing(): AsyncGenerator<Buffer> {
          yield hello.subarray(0, 16);
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw boom;
        }
        await staging.createUpload('u1');
        await assert.rejects(staging.appendUpload('u1', Readable.from(failing())), (e) => e === boom);
        assert.equal(await staging.uploadSize('u1'), 16);
        assert.equal(await staging.digestUpload('u1', 'sha256'), digestOf(hello.subarray(0, 16)));
        assert.equal(await staging.appendUpload('u1', Readable.from([hello.subarray(16)])), hello.length);
        await staging.commitUpload('u1', digestOf(hello));
        assert.deepEqual(await blobs.readAll(digestOf(hello)), hello);
      });

      it('deleteUpload returns true once, then false', async () => {
        await staging.createUpload('u1');
        await staging.appendUpload('u1', Readable.from([hello]));
        assert.equal(await staging.deleteUpload('u1'), true);
        assert.equal(await staging.deleteUpload('u1'), false);
        assert.equal(await staging.uploadSize('u1'), undefined);
      });

      it('lists uploads with their sizes', async () => {
        assert.deepEqual(await collect(staging.listUploads()), []);
        await staging.createUpload('a');
        await staging.createUpload('b');
        await staging.appendUpload('b', Readable.from([hello]));
        const listed = await collect(staging.listUploads());
        assert.deepEqual(
          listed.map(({ id, size }) => ({ id, size })).sort((x, y) => x.id.localeCompare(y.id)),
          [
            { id: 'a', size: 0 },
            { id: 'b', size: hello.length },
          ],
        );
        for (const { modified } of listed) assert.ok(Number.isFinite(modified) && modified > 0);
      });

      it('accepts ids of [A-Za-z0-9_-]{1,64} and rejects anything else with BLOB_UPLOAD_UNKNOWN', async () => {
        for (const id of ['x'.repeat(64), 'A-z_09']) {
          await staging.createUpload(id);
          assert.equal(await staging.uploadSize(id), 0);
        }
        for (const id of ['../escape', '..', '.', '', 'a/b', 'a.b', 'x'.repeat(65), 'é', 'a\0b']) {
          await rejectsWith(staging.createUpload(id), 'BLOB_UPLOAD_UNKNOWN');
          await rejectsWith(staging.appendUpload(id, Readable.from([hello])), 'BLOB_UPLOAD_UNKNOWN');
          await rejectsWith(staging.uploadSize(id), 'BLOB_UPLOAD_UNKNOWN');
          await rejectsWith(staging.digestUpload(id, 'sha256'), 'BLOB_UPLOAD_UNKNOWN');
          await rejectsWith(staging.commitUpload(id, digestOf(hello)), 'BLOB_UPLOAD_UNKNOWN');
          await rejectsWith(staging.deleteUpload(id), 'BLOB_UPLOAD_UNKNOWN');
        }
      });
    });

    describe('large and concurrent', () => {
      it('streams a 20 MiB blob through chunked appends and ranged reads', async () => {
        const total = 20 * MiB;
        const hash = createHash('sha256');
        for (const chunk of generate(0, total)) hash.update(chunk);
        const d = `sha256:${hash.digest('hex')}` as Digest;

        await staging.createUpload('big');
        for (let at = 0; at < total; at += 5 * MiB) {
          assert.equal(await staging.appendUpload('big', Readable.from(generate(at, at + 5 * MiB))), at + 5 * MiB);
        }
        await staging.commitUpload('big', d);

        assert.equal(await blobs.stat(d), total);
        assert.equal(await sha256Of(await blobs.read(d)), d);
        const copied = sink();
        await blobs.writeTo(d, copied.writable, { start: 1, end: total - 2 });
        assert.ok(copied.bytes().equals(pattern(1, total - 2)), 'writeTo of a range across chunk edges');
        const once = sink();
        await blobs.writeTo(d, once.writable, { start: 4097, end: total - 3 }, { once: true });
        assert.ok(once.bytes().equals(pattern(4097, total - 4099)), 'a one-off writeTo (O_DIRECT reads where the driver does them)');
        for (const [start, end] of [
          [5 * MiB - 100, 5 * MiB + 100],
          [total - 1, total - 1],
          [3, 3 * MiB + 7],
        ] as const) {
          assert.ok((await bytes(await blobs.read(d, { start, end }))).equals(pattern(start, end + 1 - start)), `${start}-${end}`);
        }
      });

      it('20 concurrent commits of one digest all succeed and leave one intact blob', async () => {
        const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
        const body = Buffer.concat([...generate(0, MiB)]);
        const d = digestOf(body);
        await Promise.all(
          ids.map(async (id) => {
            await staging.createUpload(id);
            await staging.appendUpload(id, Readable.from(generate(0, MiB)));
          }),
        );
        await Promise.all(ids.map((id) => staging.commitUpload(id, d)));
        assert.ok((await blobs.readAll(d)).equals(body));
        assert.deepEqual(await collect(staging.listUploads()), []);
        assert.deepEqual(
          (await collect(blobs.list())).map((b) => b.digest),
          [d],
        );
      });
    });
  });
}

/** Upload body under id and commit it; returns its digest. */
async function put(staging: UploadStaging, body: Buffer, id = 'put', alg: 'sha256' | 'sha512' = 'sha256'): Promise<Digest> {
  const digest = digestOf(body, alg);
  await staging.createUpload(id);
  await staging.appendUpload(id, Readable.from([body]));
  await staging.commitUpload(id, digest);
  return digest;
}

/** A Writable that copies what it receives (a driver may reuse its buffers after each write). */
function sink(): { writable: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const writable = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
  return { writable, bytes: () => Buffer.concat(chunks) };
}

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function sha256Of(stream: Readable): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}` as Digest;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function byDigest(a: { digest: Digest }, b: { digest: Digest }): number {
  return a.digest.localeCompare(b.digest);
}

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isOciError(e), `expected OciError ${kind}, got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

/** Deterministic, non-repeating-looking bytes [offset, offset + length) of a virtual stream. */
function pattern(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.imul(offset + i, 0x9e3779b1) >>> 24;
  return out;
}

/** Bytes [from, to) of the pattern in 64 KiB chunks, generated lazily. */
function* generate(from: number, to: number): Generator<Buffer> {
  for (let at = from; at < to; at += 64 * 1024) yield pattern(at, Math.min(64 * 1024, to - at));
}
