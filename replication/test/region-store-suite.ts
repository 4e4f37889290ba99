import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { HlcTimestamp } from 'georeg/nodes';
import { isOciError, parseDigest, type Digest } from 'georeg/oci';
import type { RegionStore } from '../src/region-store.js';
import { pushBlob, sha256, type Node } from './support.js';

/** A store under test, over the node whose registry it writes. */
export interface StoreFixture {
  store: RegionStore;
  node: Node;
  close(): Promise<void>;
}

const d = (s: string): Digest => parseDigest(s);
const at = (wallMs: number, region = 'eu'): HlcTimestamp => ({ wallMs, logical: 0, region });

/** `bytes` from `offset` on, optionally failing after `cutAfter` bytes (an interrupted copy). */
function source(bytes: Buffer, offset: number, cutAfter?: number): Readable {
  const rest = bytes.subarray(offset);
  if (cutAfter === undefined) return Readable.from([rest.subarray(0, rest.length >> 1), rest.subarray(rest.length >> 1)]);
  return Readable.from(
    (async function* () {
      yield rest.subarray(0, cutAfter);
      throw new Error('injected cut');
    })(),
  );
}

/** The behaviour every RegionStore shares: the in-process one and the node's over gRPC. */
export function regionStoreSuite(name: string, make: () => Promise<StoreFixture>): void {
  describe(`RegionStore: ${name}`, function () {
    this.timeout(20_000);
    let f: StoreFixture;
    beforeEach(async () => (f = await make()));
    afterEach(() => f.close());

    it('copies a blob in, verified, and links one held in another repository without fetching', async () => {
      const bytes = randomBytes(256 * 1024);
      const digest = d(sha256(bytes));
      assert.equal(await f.store.hasBlob('team/a', digest), false);
      assert.equal(await f.store.ingestBlob('team/a', digest, (offset) => source(bytes, offset)), true);
      assert.equal(await f.store.hasBlob('team/a', digest), true);
      assert.equal(sha256(Buffer.from(await (await fetch(`${f.node.url}/v2/team/a/blobs/${digest}`)).arrayBuffer())), digest);
      assert.equal(await f.store.ingestBlob('team/b', digest, () => assert.fail('no bytes are needed')), false);
      assert.equal(await f.store.hasBlob('team/b', digest), true);
      assert.equal(await f.store.ingestBlob('team/c', digest, () => assert.fail('no bytes are needed')), false);
      const absent = Buffer.from('absent');
      assert.equal(
        await f.store.ingestBlob('team/b', d(sha256(absent)), (offset) => source(absent, offset)),
        true,
        'a blob no repository here holds is fetched',
      );
    });

    it('resumes an interrupted copy from the offset it reached; refuses bytes that do not match', async () => {
      const bytes = randomBytes(512 * 1024);
      const digest = d(sha256(bytes));
      await assert.rejects(
        f.store.ingestBlob('team/a', digest, (offset) => source(bytes, offset, 100_000)),
        /injected cut/,
      );
      const offsets: number[] = [];
      await f.store.ingestBlob('team/a', digest, (offset) => (offsets.push(offset), source(bytes, offset)));
      assert.deepEqual(offsets, [100_000]);
      const other = d(sha256('expected'));
      await assert.rejects(
        f.store.ingestBlob('team/a', other, () => source(Buffer.from('something else'), 0)),
        (e: unknown) => isOciError(e, 'DIGEST_INVALID'),
      );
      assert.equal(await f.store.hasBlob('team/a', other), false);
    });

    it('stores and deletes manifests, refusing one whose blobs are missing with the OCI error', async () => {
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      const configDigest = await pushBlob(f.node.url, 'team/a', config);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [],
        }),
      );
      const digest = d(sha256(manifest));
      assert.equal(await f.store.hasManifest('team/a', digest), false);
      await f.store.putManifest('team/a', digest, manifest, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(await f.store.hasManifest('team/a', digest), true);
      await assert.rejects(f.store.putManifest('team/b', digest, manifest, 'application/vnd.oci.image.manifest.v1+json'), (e: unknown) =>
        isOciError(e, 'MANIFEST_BLOB_UNKNOWN'),
      );
      await f.store.putTag('team/a', 'v1', digest, at(1000));
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest, clock: at(1000) });
      await f.store.deleteManifest('team/a', digest);
      assert.equal(await f.store.hasManifest('team/a', digest), false);
      assert.equal((await f.store.tag('team/a', 'v1')).digest, undefined, 'its tags went with it');
    });

    it('refuses a tag change older than the one the tag holds, and says so', async () => {
      const config = await pushBlob(f.node.url, 'team/a', Buffer.from('{}'));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
          layers: [],
        }),
      );
      const digest = d(sha256(manifest));
      await f.store.putManifest('team/a', digest, manifest, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(2000)), true);
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(1000)), false);
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(1500)), false);
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest, clock: at(2000) });
    });

    it('keeps the clock of a deleted tag, and applies policy and identity changes only when newer', async () => {
      const config = await pushBlob(f.node.url, 'team/a', Buffer.from('{}'));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
          layers: [],
        }),
      );
      const digest = d(sha256(manifest));
      await f.store.putManifest('team/a', digest, manifest, 'application/vnd.oci.image.manifest.v1+json');
      await f.store.putTag('team/a', 'v1', digest, at(2000));
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(3000)), true);
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest: undefined, clock: at(3000) });
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(4000)), false, 'nothing left to delete');
      await f.store.observe(at(Date.now() + 1000, 'us'));
      const policy = JSON.stringify({ keys: [], policies: [{ repositories: ['x/**'], mode: 'off' }] });
      assert.equal(await f.store.applyPolicy(policy, at(Date.now(), 'us')), true);
      assert.equal(await f.store.applyPolicy(policy, at(5, 'us')), false, 'an older version loses');
      const user = JSON.stringify({ name: 'dev', password: 'scrypt$x', admin: false, disabled: false, created: 0 });
      const applied = await f.store.applyIdentity('auth/user/dev', user, at(Date.now(), 'us'));
      assert.equal(typeof applied, 'boolean');
      assert.equal(await f.store.applyIdentity('auth/user/../x', user, at(Date.now(), 'us')), false, 'a malformed key is dropped');
    });
  });
}
