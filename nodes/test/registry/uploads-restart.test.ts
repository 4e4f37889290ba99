import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, type Digest, isOciError } from 'georeg/oci';
import { FsBlobDriver } from '../../src/storage/fs-driver.js';
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { Registry } from '../../src/registry/registry.js';

async function open(dir: string): Promise<Registry> {
  const driver = await FsBlobDriver.open(join(dir, 'blobs'));
  return new Registry({
    blobs: driver,
    staging: driver,
    meta: await LevelMetaStore.open(join(dir, 'meta')),
    manifests: { maxManifestBytes: 1 << 20 },
  });
}

describe('registry: uploads after a restart', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'georeg-uprestart-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('lets only one request at a time write to an upload, even the first ones after a restart', async () => {
    const first = Buffer.alloc(100_000, 1);
    const more = Buffer.alloc(4_000_000, 2);
    let registry = await open(dir);
    const session = await registry.uploads.start('a/b');
    await registry.uploads.append('a/b', session.id, Readable.from([first]));
    await registry.close();

    registry = await open(dir); // a fresh process: no live state for the upload
    try {
      const digest = digestOf(first) as Digest;
      const results = await Promise.allSettled([
        registry.uploads.finish('a/b', session.id, digest),
        registry.uploads.append('a/b', session.id, Readable.from([more])),
      ]);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(rejected.length, 1, 'the second request is refused while the first writes');
      assert.ok(isOciError(rejected[0]?.reason, 'BLOB_UPLOAD_INVALID'), String(rejected[0]?.reason));
      if (results[0].status === 'fulfilled') {
        assert.deepEqual(await registry.blobs.readAll(digest), first, 'the committed blob is exactly the verified bytes');
      }
    } finally {
      await registry.close();
    }
  });
});
