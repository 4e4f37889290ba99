import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { HlcTimestamp } from 'georeg/nodes';
import { apiPaths, isOciError, parseDigest, parseManifest, type Digest } from 'georeg/oci';
import type { RegionStore } from '../../src/region-store.js';
import { pushBlob, sha256, type Node } from '../support.js';

/** A store under test, over the node whose registry it writes. */
export interface StoreFixture {
  store: RegionStore;
  node: Node;
  close(): Promise<void>;
}

const d = (s: string): Digest => parseDigest(s);
const at = (wallMs: number, region = 'eu'): HlcTimestamp => ({ wallMs, logical: 0, region });
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** A password hash of the shape a replicated user record must have (never checked against a password here). */
const HASH = `scrypt$${2 ** 15}$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;
const user = (name: string, created: number): string => JSON.stringify({ name, password: HASH, admin: false, disabled: false, created });

/** A manifest of `repo` whose config is pushed there (so it can be stored), and its digest. */
async function manifestIn(node: Node, repo: string): Promise<{ digest: Digest; manifest: Buffer }> {
  const config = await pushBlob(node.url, repo, Buffer.from('{}'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
    }),
  );
  return { digest: d(sha256(manifest)), manifest };
}

/**
 * What a test left in the node that a finished store call must not leave: staged uploads (an
 * interrupted copy keeps its bytes only until the copy that resumes it) and upload sessions.
 */
async function leftBehind(node: Node): Promise<string[]> {
  const left: string[] = [];
  for await (const u of node.stores.staging.listUploads()) left.push(`staged upload ${u.id}`);
  for await (const u of node.stores.meta.listUploads()) left.push(`upload session ${u.id}`);
  return left;
}

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

/**
 * The behaviour every RegionStore shares, every method of it: the in-process one and the node's
 * over gRPC. Its teardown fails when a test left staged uploads or upload sessions behind.
 */
export function regionStoreSuite(name: string, make: () => Promise<StoreFixture>): void {
  describe(`RegionStore: ${name}`, function () {
    this.timeout(20_000);
    let f: StoreFixture;
    beforeEach(async () => (f = await make()));
    afterEach(async () => {
      try {
        assert.deepEqual(await leftBehind(f.node), [], 'left behind in the node');
      } finally {
        await f.close();
      }
    });

    it("keeps how far each peer's events of each repository are applied where the region's nodes share the store, else none", async () => {
      const { positions } = f.store;
      if (!f.node.stores.meta.shared) {
        assert.ok(positions === undefined || (await positions.get('eu', 'team/app')) === null, 'a node of its own keeps none');
        return;
      }
      assert.ok(positions);
      assert.equal(await positions.get('eu', 'team/app'), 0);
      await positions.advance('eu', 'team/app', 5);
      await positions.advance('eu', 'team/app', 3); // a late one: the position stays
      await positions.advance('ap', 'team/app', 2);
      assert.equal(await positions.get('eu', 'team/app'), 5);
      assert.equal(await positions.get('ap', 'team/app'), 2);
      assert.equal(await positions.get('eu', 'team/other'), 0);
    });

    it('copies a blob in, verified, and links one held in another repository without fetching', async () => {
      const bytes = randomBytes(256 * 1024);
      const digest = d(sha256(bytes));
      assert.equal(await f.store.hasBlob('team/a', digest), false);
      assert.equal(await f.store.ingestBlob('team/a', digest, (offset) => source(bytes, offset)), true);
      assert.equal(await f.store.hasBlob('team/a', digest), true);
      assert.equal(sha256(Buffer.from(await (await fetch(`${f.node.url}${apiPaths.blob('team/a', digest)}`)).arrayBuffer())), digest);
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
      await f.store.putManifest('team/a', digest, manifest, MANIFEST);
      assert.equal(await f.store.hasManifest('team/a', digest), true);
      await assert.rejects(f.store.putManifest('team/b', digest, manifest, MANIFEST), (e: unknown) =>
        isOciError(e, 'MANIFEST_BLOB_UNKNOWN'),
      );
      await f.store.putTag('team/a', 'v1', digest, at(1000));
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest, clock: at(1000) });
      await f.store.deleteManifest('team/a', digest);
      assert.equal(await f.store.hasManifest('team/a', digest), false);
      assert.equal((await f.store.tag('team/a', 'v1')).digest, undefined, 'its tags went with it');
    });

    it('refuses a tag change older than the one the tag holds, and says so', async () => {
      const { digest, manifest } = await manifestIn(f.node, 'team/a');
      await f.store.putManifest('team/a', digest, manifest, MANIFEST);
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(2000)), true);
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(1000)), false);
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(1500)), false);
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest, clock: at(2000) });
    });

    it('keeps the clock of a deleted tag', async () => {
      const { digest, manifest } = await manifestIn(f.node, 'team/a');
      await f.store.putManifest('team/a', digest, manifest, MANIFEST);
      await f.store.putTag('team/a', 'v1', digest, at(2000));
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(3000)), true);
      assert.deepEqual(await f.store.tag('team/a', 'v1'), { digest: undefined, clock: at(3000) });
      assert.equal(await f.store.deleteTag('team/a', 'v1', at(4000)), false, 'nothing left to delete');
    });

    it('stores a manifest with the form the copier parsed, and answers hasBlob per repository', async () => {
      const { digest, manifest } = await manifestIn(f.node, 'team/a');
      const config = parseManifest(manifest, MANIFEST).blobs[0]?.digest as Digest;
      assert.equal(await f.store.hasBlob('team/a', config), true);
      assert.equal(await f.store.hasBlob('team/b', config), false, 'a blob linked into another repository only');
      await f.store.putManifest('team/a', digest, manifest, MANIFEST, parseManifest(manifest, MANIFEST));
      assert.equal(await f.store.hasManifest('team/a', digest), true);
      assert.equal(await f.store.hasManifest('team/b', digest), false);
      assert.deepEqual(await f.store.tag('team/a', 'never'), { digest: undefined, clock: undefined });
      assert.equal(await f.store.putTag('team/a', 'v1', digest, undefined), true, 'a change without a clock applies');
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(1000)), true);
      assert.equal(await f.store.putTag('team/a', 'v1', digest, at(1000)), false, 'a replay changes nothing');
      await f.store.deleteManifest('team/a', digest);
      await f.store.deleteManifest('team/a', digest); // an absent manifest: nothing to do
    });

    it("observe folds a peer's clock into this region's: a change made here afterwards orders after it", async () => {
      const ahead = at(Date.now() + 60_000, 'us');
      await f.store.observe(ahead);
      await f.node.registry.identities.addUser('local', 'a long enough password', false);
      const records = [];
      for await (const r of f.node.registry.identities.records()) records.push(r);
      assert.equal(records.length, 1);
      assert.ok(records[0] && records[0].clock.wallMs >= ahead.wallMs, `${JSON.stringify(records[0]?.clock)} is before ${ahead.wallMs}`);
    });

    it('applies a user record only when newer: older, replayed, too far ahead and malformed ones are refused', async () => {
      const now = Date.now();
      assert.equal(await f.store.applyIdentity('auth/user/dev', user('dev', 1), at(now, 'us')), true);
      assert.equal(await f.store.applyIdentity('auth/user/dev', user('dev', 2), at(now - 1000, 'us')), false, 'older');
      assert.equal(await f.store.applyIdentity('auth/user/dev', user('dev', 3), at(now, 'us')), false, 'a replay');
      assert.equal(await f.store.applyIdentity('auth/user/dev', user('dev', 4), at(now + 3_600_000, 'us')), false, 'an hour ahead');
      assert.equal(await f.store.applyIdentity('auth/user/../x', user('dev', 5), at(now + 1, 'us')), false, 'a malformed key');
      assert.equal(await f.store.applyIdentity('auth/user/dev', '{"name":"dev"}', at(now + 1, 'us')), false, 'a malformed record');
      const users = await f.node.registry.identities.listUsers();
      assert.deepEqual(
        users.map((u) => [u.name, u.created]),
        [['dev', new Date(1).toISOString()]],
      );
    });

    it('applies a trust policy document only when newer: older, replayed and too far ahead ones are refused', async () => {
      const policy = (glob: string) => JSON.stringify({ keys: [], policies: [{ repositories: [glob], mode: 'off' }] });
      const now = Date.now();
      assert.equal(await f.store.applyPolicy(policy('x/**'), at(now, 'us')), true);
      assert.equal(await f.store.applyPolicy(policy('older/**'), at(now - 1000, 'us')), false);
      assert.equal(await f.store.applyPolicy(policy('replay/**'), at(now, 'us')), false);
      assert.equal(await f.store.applyPolicy(policy('ahead/**'), at(now + 3_600_000, 'us')), false);
      assert.equal(await f.store.applyPolicy('not json', at(now + 1, 'us')), false);
      assert.equal(f.node.registry.policies.current.version, `${now}.0@us`);
      assert.equal(f.node.registry.policies.current.trust.document.policies[0]?.repositories[0], 'x/**');
    });
  });
}
