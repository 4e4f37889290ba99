/**
 * GC on one node while writers push through another, the two sharing one PostgreSQL database and one
 * blob store (an fs directory): the writer's steps and the GC's are interleaved by pauses of the
 * nodes' drivers (PausingDriver), never by timing. Old (seeded through node A, older than the grace
 * period by GC's clock), unreferenced digests are what the GC is after; node B links them again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { createTestDatabase, poll, type TestDatabase } from 'georeg/test-support';
import { isOciError, type Digest } from 'georeg/oci';
import { sha256 } from '../support/client.js';
import { PausingDriver } from '../support/pausing-driver.js';
import { collectGarbage, type GcReport } from '../../src/registry/gc.js';
import { Registry } from '../../src/registry/registry.js';
import { PgMetaStore } from '../../src/meta/pg-store.js';
import { LOCK_CLASS } from '../../src/meta/pg-transaction.js';
import { silentLogger } from '../../src/log.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
/** GC's clock and node B's: a day ahead, so what node A wrote is older than the grace period (an hour) and what B writes is not. */
const ahead = (): number => Date.now() + DAY;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Node {
  registry: Registry;
  driver: PausingDriver;
  meta: PgMetaStore;
}

describe('registry: gc beside writers on another node sharing the metadata database and the blob store', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let dir: string;
  let url: string;
  let a: Node, b: Node;

  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-gc-shared-'));
    url = await db.schema();
    const node = async (now?: () => number): Promise<Node> => {
      const driver = new PausingDriver(dir);
      const meta = await PgMetaStore.open(url, { now });
      return {
        driver,
        meta,
        registry: new Registry({ blobs: driver, staging: driver, meta, manifests: { maxManifestBytes: 1 << 20 }, now }),
      };
    };
    [a, b] = [await node(), await node(ahead)];
  });
  afterEach(async () => {
    await Promise.all([a.registry.close(), b.registry.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** A whole GC run on node A. */
  const gc = (dryRun = false): Promise<GcReport> =>
    collectGarbage(a.registry, { dryRun, graceMs: HOUR, uploadMaxAgeMs: DAY }, silentLogger, ahead);

  /** A blob uploaded into `repo` through `node`. */
  async function upload(node: Node, repo: string, data: Buffer): Promise<Digest> {
    const digest = sha256(data) as Digest;
    await node.registry.uploads.monolithic(repo, digest, Readable.from([data]));
    return digest;
  }

  /** The blob's bytes read through each node, as a pull there would. */
  async function expectReadable(repo: string, digest: Digest, data: Buffer): Promise<void> {
    for (const [name, node] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const { stream } = await node.registry.blobs.open(repo, digest);
      assert.deepEqual(Buffer.concat(await stream.toArray()), data, `${repo}@${digest} through node ${name}`);
    }
  }

  /** Nothing broken once the writer is done (a dry run reads the whole store). */
  async function expectNothingBroken(): Promise<void> {
    assert.deepEqual((await gc(true)).broken, []);
  }

  /** An image's blobs (uploaded through node A: old and, without a manifest, unreferenced) and its manifest's body. */
  async function seedImage(repo: string): Promise<{ blobs: [Digest, Buffer][]; body: Buffer }> {
    const layer = randomBytes(1000);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { diff_ids: [sha256(layer)] } }));
    const [layerDigest, configDigest] = [await upload(a, repo, layer), await upload(a, repo, config)];
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    return {
      blobs: [
        [layerDigest, layer],
        [configDigest, config],
      ],
      body,
    };
  }

  async function expectImage(repo: string, image: { blobs: [Digest, Buffer][]; body: Buffer }): Promise<void> {
    for (const node of [a, b])
      assert.deepEqual((await node.registry.manifests.get(repo, { tag: 'v1', digest: undefined })).bytes, image.body);
    for (const [digest, data] of image.blobs) await expectReadable(repo, digest, data);
  }

  /** A GC run that removed nothing, and the image whole through both nodes. */
  async function expectAllKept(report: GcReport, repo: string, image: { blobs: [Digest, Buffer][]; body: Buffer }): Promise<void> {
    assert.deepEqual(report.blobsDeleted, []);
    assert.equal(report.linksRemoved, 0);
    await expectImage(repo, image);
    await expectNothingBroken();
  }

  it('still removes what nobody links or references: an old blob and an old, unreferenced link', async () => {
    const unlinked = randomBytes(1000);
    const digest = await upload(a, 'seed/gone', unlinked);
    await a.registry.blobs.delete('seed/gone', digest);
    const stale = await upload(a, 'seed/stale', randomBytes(1000));
    const report = await gc();
    assert.deepEqual([...report.blobsDeleted].sort(), [digest, stale].sort());
    assert.equal(report.linksRemoved, 1);
    assert.equal(await b.driver.stat(digest), undefined);
  });

  it('stops before its next removal once its node lost the gc lease (its session ended), which another node may then take', async () => {
    const digest = await upload(a, 'seed/lost', randomBytes(1000));
    await a.registry.blobs.delete('seed/lost', digest); // GC's to take, but for the lease
    const listing = a.driver.arm((point) => point === 'list');
    const running = gc();
    await listing.reached; // A holds the lease and has gone through the links
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [LOCK_CLASS.lease],
      );
    } finally {
      await admin.end();
    }
    const taken = await poll(5000, 'the gc lease free for node B', () => b.meta.tryLease('gc'));
    listing.release();
    await assert.rejects(running, (e: Error) => isOciError(e, 'UNAVAILABLE') && /lost the gc lease/.test(e.message));
    assert.notEqual(await b.driver.stat(digest), undefined, 'nothing removed once the lease was lost');
    await taken.release();
  });

  it('keeps a blob whose upload commit on B found its bytes stored and had not linked them yet while GC ran', async () => {
    const data = randomBytes(1000);
    const digest = await upload(a, 'seed/old', data);
    await a.registry.blobs.delete('seed/old', digest); // stored, linked nowhere, old: GC's to take
    const committed = b.driver.arm((point) => point === `committed:${digest}`);
    const pushing = upload(b, 'app/new', data);
    await committed.reached; // B's commit found the bytes there (and dropped its own); the link is next
    const report = await gc();
    committed.release();
    await pushing;
    assert.deepEqual(report.blobsDeleted, []);
    await expectReadable('app/new', digest, data);
    await expectNothingBroken();
  });

  it('keeps a blob that B committed and linked after GC listed the links', async () => {
    const data = randomBytes(1000);
    const digest = await upload(a, 'seed/old', data);
    await a.registry.blobs.delete('seed/old', digest);
    const listing = a.driver.arm((point) => point === 'list');
    const collecting = gc();
    await listing.reached; // GC saw no link to the digest...
    await upload(b, 'app/new', data); // ...B links it...
    listing.release(); // ...and GC goes on to the blobs
    assert.deepEqual((await collecting).blobsDeleted, []);
    await expectReadable('app/new', digest, data);
    await expectNothingBroken();
  });

  it('keeps a blob (and the stale link it is mounted from) that a mount on B found stored and had not linked yet', async () => {
    const data = randomBytes(1000);
    const digest = await upload(a, 'seed/src', data); // an old link nothing references: GC's to take, with the bytes
    const found = b.driver.arm((point) => point === `stat:${digest}`);
    const mounting = b.registry.blobs.mount('app/dst', 'seed/src', digest);
    await found.reached;
    const report = await gc();
    found.release();
    assert.equal(await mounting, true);
    assert.deepEqual(report.blobsDeleted, []);
    assert.equal(report.linksRemoved, 0);
    await expectReadable('app/dst', digest, data);
    await expectNothingBroken();
  });

  it('keeps the stale links and blobs of a manifest put on B that checked them and had not committed yet', async () => {
    const image = await seedImage('app/img');
    const manifest = b.driver.arm((point) => point.startsWith('manifest:'));
    const putting = b.registry.manifests.put('app/img', { tag: 'v1', digest: undefined }, image.body, MANIFEST);
    await manifest.reached; // the references are checked (linked); the manifest's bytes and record are next
    const report = await gc();
    manifest.release();
    await putting;
    await expectAllKept(report, 'app/img', image);
  });

  it('keeps the links and blobs of a manifest B committed after GC listed them as stale', async () => {
    const image = await seedImage('app/img');
    const [first] = image.blobs.map(([d]) => d).sort() as [Digest];
    const deciding = a.driver.arm((point) => point === `stat:${first}`);
    const collecting = gc();
    await deciding.reached; // GC listed both links, unreferenced and old, and is about to decide on the first...
    await b.registry.manifests.put('app/img', { tag: 'v1', digest: undefined }, image.body, MANIFEST); // ...B references both
    deciding.release();
    await expectAllKept(await collecting, 'app/img', image);
  });

  it('keeps the bytes of a manifest B put again (finding them stored) after GC listed them as unreferenced', async () => {
    const image = await seedImage('seed/m');
    await a.registry.manifests.put('seed/m', { tag: 'v1', digest: undefined }, image.body, MANIFEST);
    await a.registry.manifests.delete('seed/m', { tag: undefined, digest: sha256(image.body) as Digest }); // its bytes stay, unreferenced
    const listing = a.driver.arm((point) => point === 'list');
    const collecting = gc();
    await listing.reached; // GC took the stale links and is about to list the blobs, the manifest's among them...
    for (const [, data] of image.blobs) await upload(b, 'app/m', data); // ...B pushes the same image again
    await b.registry.manifests.put('app/m', { tag: 'v1', digest: undefined }, image.body, MANIFEST);
    listing.release();
    assert.deepEqual((await collecting).blobsDeleted, []);
    await expectImage('app/m', image);
    await expectNothingBroken();
  });
});
