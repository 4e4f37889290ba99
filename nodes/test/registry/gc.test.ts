import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startTestNode, type TestNode } from '../support/harness.js';
import { http, pushBlob, pushImage, sha256, type PushedImage } from '../support/client.js';
import { collectGarbage, type GcOptions, type GcReport } from '../../src/registry/gc.js';
import { Registry, type RegistryStores } from '../../src/registry/registry.js';
import { FsBlobDriver } from '../../src/storage/fs-driver.js';
import { PausingDriver } from '../support/pausing-driver.js';
import { MemoryMetaStore } from '../../src/meta/memory-store.js';
import { silentLogger } from '../../src/log.js';
import { isOciError, type Digest } from 'georeg/oci';

const DAY = 24 * 3600 * 1000;

/** A clock `ms` ahead of the real one: everything stored so far is at least that old. */
const ahead = (ms: number) => () => Date.now() + ms;

function unique(label: string): string {
  return `${label}-${randomBytes(8).toString('hex')}`;
}

function sorted(digests: readonly string[]): string[] {
  return [...digests].sort();
}

describe('registry: gc', () => {
  let node: TestNode;

  beforeEach(async () => {
    node = await startTestNode({ gc: { graceSeconds: 0 } });
  });
  afterEach(async () => {
    await node.close();
  });

  function gc(opts: Partial<GcOptions> = {}, now?: () => number): Promise<GcReport> {
    return collectGarbage(node.registry, { dryRun: false, graceMs: 0, uploadMaxAgeMs: DAY, ...opts }, silentLogger, now);
  }

  async function expectBlob(repo: string, digest: string, bytes: Buffer | string): Promise<void> {
    const res = await http('GET', `${node.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200, `GET ${repo} ${digest}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    assert.deepEqual(res.body, Buffer.from(bytes));
  }

  async function expectBlobGone(repo: string, digest: string): Promise<void> {
    assert.equal((await http('GET', `${node.url}/v2/${repo}/blobs/${digest}`)).status, 404);
    assert.equal(await node.stores.blobs.stat(digest as Digest), undefined, `${digest} still on disk`);
  }

  async function expectImage(repo: string, img: PushedImage, layers: (Buffer | string)[]): Promise<void> {
    const res = await http('GET', `${node.url}/v2/${repo}/manifests/${img.digest}`);
    assert.equal(res.status, 200, `manifest ${repo}@${img.digest}: ${res.status}`);
    assert.deepEqual(res.body, img.manifest);
    const manifest = JSON.parse(img.manifest.toString()) as { config: { digest: string } };
    assert.equal(manifest.config.digest, img.config);
    const config = await http('GET', `${node.url}/v2/${repo}/blobs/${img.config}`);
    assert.equal(config.status, 200, `config of ${repo}@${img.digest}: ${config.status}`);
    assert.equal(sha256(config.body), img.config);
    for (const [i, l] of layers.entries()) await expectBlob(repo, img.layers[i] as string, l);
  }

  async function deleteManifest(repo: string, digest: string): Promise<void> {
    assert.equal((await http('DELETE', `${node.url}/v2/${repo}/manifests/${digest}`)).status, 202);
  }

  it('runs one collection at a time among the nodes sharing the store: UNAVAILABLE while another holds the gc lease', async () => {
    const digest = await pushBlob(node.url, 'gc/orphan', unique('leased'));
    await http('DELETE', `${node.url}/v2/gc/orphan/blobs/${digest}`);
    const other = await node.stores.meta.tryLease('gc');
    assert.ok(other, 'the lease was free');
    await assert.rejects(gc(), (e: Error) => isOciError(e, 'UNAVAILABLE') && /another node of this region is collecting/.test(e.message));
    assert.equal(await node.stores.meta.tryLease('gc'), undefined, 'held until released');
    await other.release();
    await gc();
    assert.ok(await node.stores.meta.tryLease('gc'), 'released once the run is done');
  });

  describe('unreferenced blobs', () => {
    it('deletes a blob no manifest references once it is older than the grace period, not before', async () => {
      const data = unique('orphan');
      const digest = await pushBlob(node.url, 'gc/orphan', data);

      const young = await gc({ graceMs: 60_000 });
      assert.deepEqual(young.blobsDeleted, []);
      assert.equal(young.linksRemoved, 0);
      await expectBlob('gc/orphan', digest, data);

      const old = await gc({ graceMs: 60_000 }, ahead(120_000));
      assert.deepEqual(old.blobsDeleted, [digest]);
      assert.equal(old.bytesFreed, Buffer.byteLength(data));
      assert.equal(old.linksRemoved, 1);
      assert.deepEqual(old.broken, []);
      await expectBlobGone('gc/orphan', digest);
    });
  });

  describe('referenced blobs', () => {
    it('keeps every blob a tagged manifest references, whatever their age', async () => {
      const layers = [unique('layer-a'), unique('layer-b')];
      const img = await pushImage(node.url, 'gc/tagged', 'v1', layers);
      for (const now of [undefined, ahead(3600_000), ahead(365 * DAY)]) {
        const r = await gc({}, now);
        assert.deepEqual(r.blobsDeleted, []);
        assert.equal(r.linksRemoved, 0);
        assert.deepEqual(r.broken, []);
      }
      await expectImage('gc/tagged', img, layers);
    });

    it('keeps the blobs of a manifest whose tag was deleted and of one pushed by digest only', async () => {
      const untagLayers = [unique('untagged')];
      const untagged = await pushImage(node.url, 'gc/untagged', 'placeholder', untagLayers);
      // Deleting the tag leaves the manifest, untagged.
      assert.equal((await http('DELETE', `${node.url}/v2/gc/untagged/manifests/placeholder`)).status, 202);
      assert.equal((await http('GET', `${node.url}/v2/gc/untagged/manifests/placeholder`)).status, 404);

      // The same manifest bytes pushed by digest (never tagged) into another repository,
      // then deleted from the repository it was first pushed to.
      const byDigestLayers = [unique('by-digest')];
      const template = await pushImage(node.url, 'gc/template', 'v1', byDigestLayers);
      await pushBlob(node.url, 'gc/bydigest', await node.stores.blobs.readAll(template.config as Digest));
      for (const l of byDigestLayers) await pushBlob(node.url, 'gc/bydigest', l);
      const put = await http('PUT', `${node.url}/v2/gc/bydigest/manifests/${template.digest}`, {
        body: template.manifest,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(put.status, 201, put.body.toString());
      await deleteManifest('gc/template', template.digest);

      const r = await gc({}, ahead(DAY));
      assert.deepEqual(r.blobsDeleted, []);
      assert.deepEqual(r.broken, []);
      await expectImage('gc/untagged', untagged, untagLayers);
      await expectImage('gc/bydigest', template, byDigestLayers);
    });

    it('keeps the child manifests of an index', async () => {
      const layers = [unique('child-layer')];
      const child = await pushImage(node.url, 'gc/index', 'child', layers);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child.digest, size: child.manifest.length }],
        }),
      );
      const put = await http('PUT', `${node.url}/v2/gc/index/manifests/multi`, {
        body: index,
        headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(put.status, 201, put.body.toString());
      assert.equal((await http('DELETE', `${node.url}/v2/gc/index/manifests/child`)).status, 202);

      const r = await gc({}, ahead(DAY));
      assert.deepEqual(r.blobsDeleted, []);
      assert.deepEqual(r.broken, []);
      await expectImage('gc/index', child, layers);
      const res = await http('GET', `${node.url}/v2/gc/index/manifests/multi`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, index);
    });

    it('makes the layers of a manifest deleted by digest collectable', async () => {
      const layers = [unique('doomed-1'), unique('doomed-2')];
      const img = await pushImage(node.url, 'gc/doomed', 'v1', layers);
      assert.deepEqual((await gc({}, ahead(DAY))).blobsDeleted, []);

      const configSize = (await node.stores.blobs.stat(img.config as Digest)) ?? NaN;

      await deleteManifest('gc/doomed', img.digest);
      const r = await gc({}, ahead(DAY));
      assert.deepEqual(sorted(r.blobsDeleted), sorted([img.digest, img.config, ...img.layers]));
      assert.equal(r.linksRemoved, 3); // config + 2 layers
      assert.equal(await node.stores.meta.getBlobLink('gc/doomed', img.config as Digest), undefined);
      assert.equal(r.bytesFreed, img.manifest.length + configSize + layers.reduce((n, l) => n + Buffer.byteLength(l), 0));
      assert.deepEqual(r.broken, []);
      for (const d of [img.config, ...img.layers]) await expectBlobGone('gc/doomed', d);
      assert.equal((await http('GET', `${node.url}/v2/gc/doomed/manifests/${img.digest}`)).status, 404);
    });

    it('keeps a blob shared by two repositories while either references it', async () => {
      const shared = unique('shared');
      const one = await pushImage(node.url, 'gc/one', 'v1', [shared, unique('only-one')]);
      const two = await pushImage(node.url, 'gc/two', 'v1', [shared, unique('only-two')]);
      assert.equal(one.layers[0], two.layers[0]);

      await deleteManifest('gc/one', one.digest);
      const first = await gc({}, ahead(DAY));
      assert.deepEqual(sorted(first.blobsDeleted), sorted([one.digest, one.layers[1] as string]));
      assert.deepEqual(first.broken, []);
      await expectBlob('gc/two', two.layers[0] as string, shared);
      await expectBlob('gc/two', two.config, await node.stores.blobs.readAll(two.config as Digest));

      await deleteManifest('gc/two', two.digest);
      const second = await gc({}, ahead(DAY));
      assert.deepEqual(sorted(second.blobsDeleted), sorted([two.digest, two.config, ...two.layers]));
      assert.deepEqual(second.broken, []);
      assert.equal(second.linksRemoved, 5); // gc/one: config + shared layer; gc/two: config + 2 layers
      await expectBlobGone('gc/two', two.layers[0] as string);
      await expectBlobGone('gc/one', one.layers[0] as string);
    });
  });

  describe('dry run', () => {
    it('deletes nothing and reports exactly what a real run then deletes', async () => {
      const orphans = [unique('dry-1'), unique('dry-22')];
      const orphanDigests = [
        await pushBlob(node.url, 'gc/dry', orphans[0] as string),
        await pushBlob(node.url, 'gc/dry2', orphans[1] as string),
      ];
      const keptLayers = [unique('kept')];
      const kept = await pushImage(node.url, 'gc/dry', 'kept', keptLayers);
      const gone = await pushImage(node.url, 'gc/dry', 'gone', [unique('gone')]);
      await deleteManifest('gc/dry', gone.digest);

      const t = Date.now() + 60_000;
      const dry = await gc({ dryRun: true }, () => t);
      assert.equal(dry.dryRun, true);
      assert.deepEqual(
        sorted(dry.blobsDeleted),
        sorted([...orphanDigests, gone.digest, ...gone.layers]), // the config is shared with `kept`
      );
      assert.ok(dry.bytesFreed > 0);
      assert.equal(dry.linksRemoved, 3);
      for (const d of dry.blobsDeleted) assert.notEqual(await node.stores.blobs.stat(d), undefined, `dry run deleted ${d}`);
      await expectBlob('gc/dry', orphanDigests[0] as string, orphans[0] as string);
      await expectBlob('gc/dry2', orphanDigests[1] as string, orphans[1] as string);
      assert.deepEqual((await gc({ dryRun: true }, () => t)).blobsDeleted.length, dry.blobsDeleted.length, 'a dry run is repeatable');

      const real = await gc({ dryRun: false }, () => t);
      assert.equal(real.dryRun, false);
      assert.deepEqual(sorted(real.blobsDeleted), sorted(dry.blobsDeleted));
      assert.equal(real.bytesFreed, dry.bytesFreed);
      assert.equal(real.linksRemoved, dry.linksRemoved);
      for (const d of real.blobsDeleted) assert.equal(await node.stores.blobs.stat(d), undefined, `${d} survived`);
      await expectImage('gc/dry', kept, keptLayers);

      const again = await gc({ dryRun: true }, () => t);
      assert.deepEqual(again.blobsDeleted, []);
      assert.equal(again.bytesFreed, 0);
    });

    it('reports the sum of the deleted blob sizes as bytesFreed', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(2345);
      await pushBlob(node.url, 'gc/bytes', a);
      await pushBlob(node.url, 'gc/bytes', b);
      const dry = await gc({ dryRun: true }, ahead(1000));
      assert.equal(dry.bytesFreed, 3345);
      assert.equal((await gc({}, ahead(1000))).bytesFreed, 3345);
    });
  });

  describe('broken', () => {
    it('is empty on a healthy store', async () => {
      await pushImage(node.url, 'gc/healthy', 'v1', [unique('h1'), unique('h2')]);
      await pushImage(node.url, 'gc/healthy', 'v2');
      await pushBlob(node.url, 'gc/healthy', unique('orphan'));
      const gone = await pushImage(node.url, 'gc/healthy', 'v3');
      await deleteManifest('gc/healthy', gone.digest);
      assert.deepEqual((await gc({ dryRun: true })).broken, []);
      assert.deepEqual((await gc({}, ahead(DAY))).broken, []);
      assert.deepEqual((await gc({ dryRun: true }, ahead(DAY))).broken, []);
    });

    it('reports a linked, referenced blob whose bytes are gone', async () => {
      const img = await pushImage(node.url, 'gc/broken', 'v1', [unique('lost')]);
      const lost = img.layers[0] as Digest;
      assert.equal(await node.stores.blobs.delete(lost), true);
      const r = await gc({ dryRun: true });
      assert.deepEqual(r.broken, [{ kind: 'link-without-blob', repository: 'gc/broken', digest: lost }]);
    });

    it('reports a manifest whose bytes are gone', async () => {
      const img = await pushImage(node.url, 'gc/broken', 'v1');
      assert.equal(await node.stores.blobs.delete(img.digest as Digest), true);
      const r = await gc({ dryRun: true });
      assert.deepEqual(r.broken, [{ kind: 'manifest-without-bytes', repository: 'gc/broken', digest: img.digest }]);
    });

    it('reports a manifest whose blob was unlinked from its repository', async () => {
      const img = await pushImage(node.url, 'gc/broken', 'v1', [unique('unlinked')]);
      const layer = img.layers[0] as string;
      assert.equal((await http('DELETE', `${node.url}/v2/gc/broken/blobs/${layer}`)).status, 202);
      const r = await gc({ dryRun: true });
      assert.deepEqual(r.broken, [{ kind: 'reference-missing', repository: 'gc/broken', digest: img.digest, detail: layer }]);
    });
  });

  describe('uploads', () => {
    let dir: string;
    let clock: number;
    let stores: RegistryStores;
    let registry: Registry;

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'georeg-gc-'));
      clock = Date.now();
      const driver = await FsBlobDriver.open(dir);
      stores = { blobs: driver, staging: driver, meta: new MemoryMetaStore() };
      registry = new Registry({
        ...stores,
        manifests: { maxManifestBytes: 1 << 20 },
        now: () => clock,
      });
    });
    afterEach(async () => {
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    });

    const run = (opts: Partial<GcOptions>): Promise<GcReport> =>
      collectGarbage(registry, { dryRun: false, graceMs: 0, uploadMaxAgeMs: DAY, ...opts }, silentLogger, () => clock);

    async function stagingAreas(): Promise<string[]> {
      const ids: string[] = [];
      for await (const u of stores.staging.listUploads()) ids.push(u.id);
      return ids.sort();
    }

    it('removes expired upload sessions and staged data without a session (uploadMaxAgeMs 0)', async () => {
      const session = await registry.uploads.start('gc/up');
      assert.equal(await registry.uploads.append('gc/up', session.id, Readable.from([Buffer.from('partial')])), 7);
      await stores.staging.createUpload('leftover-without-session');
      assert.deepEqual(await stagingAreas(), sorted([session.id, 'leftover-without-session']));
      clock += 1000;

      const young = await run({ uploadMaxAgeMs: 60_000 });
      assert.equal(young.uploadsRemoved, 0);
      const dry = await run({ uploadMaxAgeMs: 0, dryRun: true });
      assert.equal(dry.uploadsRemoved, 0);
      assert.equal(await registry.uploads.status('gc/up', session.id), 7);

      const r = await run({ uploadMaxAgeMs: 0 });
      assert.equal(r.uploadsRemoved, 2);
      assert.equal(await stores.meta.getUpload(session.id), undefined);
      assert.deepEqual(await stagingAreas(), []);
      await assert.rejects(registry.uploads.status('gc/up', session.id), { code: 'BLOB_UPLOAD_UNKNOWN' });
    });

    it('keeps an upload that is younger than uploadMaxAgeMs', async () => {
      const session = await registry.uploads.start('gc/up');
      clock += 1000;
      const r = await run({ uploadMaxAgeMs: 60_000 });
      assert.equal(r.uploadsRemoved, 0);
      assert.equal(await registry.uploads.status('gc/up', session.id), 0);
    });
  });

  describe('concurrent writers', () => {
    it('keeps the blobs of a manifest put that started before gc and is committed after it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'georeg-gc-'));
      const driver = new PausingDriver(dir);
      const registry = new Registry({
        blobs: driver,
        staging: driver,
        meta: new MemoryMetaStore(),
        manifests: { maxManifestBytes: 1 << 20 },
      });
      try {
        const repo = 'gc/slow';
        const layer = Buffer.from(unique('slow-layer'));
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
        const [layerDigest, configDigest] = [sha256(layer), sha256(config)] as Digest[];
        await registry.uploads.monolithic(repo, layerDigest as Digest, Readable.from([layer]));
        await registry.uploads.monolithic(repo, configDigest as Digest, Readable.from([config]));
        const body = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
          }),
        );

        const { reached, release } = driver.arm((point) => point.startsWith('manifest:'));
        // The put checks its references, then pauses while storing the manifest's bytes...
        const put = registry.manifests.put(repo, { tag: 'v1', digest: undefined }, body, 'application/vnd.oci.image.manifest.v1+json');
        await reached;
        // ...while a whole gc runs (graceMs 0: both blobs are old enough and, so far, unreferenced)...
        const report = await collectGarbage(registry, { dryRun: false, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger, ahead(1000));
        release();
        // ...and the put succeeds: its blobs must still be there.
        const record = await put;
        assert.equal(record.digest, sha256(body));
        assert.deepEqual(report.blobsDeleted, [], 'gc deleted blobs a manifest being put depends on');
        assert.equal(await registry.blobs.stat(repo, layerDigest as Digest), layer.length);
        assert.equal(await registry.blobs.stat(repo, configDigest as Digest), config.length);
        assert.deepEqual((await collectGarbage(registry, { dryRun: true, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger)).broken, []);
      } finally {
        await registry.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('keeps a blob whose upload commit began before gc and links it after gc listed the links', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'georeg-gc-'));
      const driver = new PausingDriver(dir);
      const registry = new Registry({
        blobs: driver,
        staging: driver,
        meta: new MemoryMetaStore(),
        manifests: { maxManifestBytes: 1 << 20 },
      });
      try {
        const data = Buffer.from(unique('recommit'));
        const digest = sha256(data) as Digest;
        // Bytes on disk, old, linked nowhere and referenced by nothing: gc's to take...
        await registry.uploads.monolithic('gc/first', digest, Readable.from([data]));
        await registry.blobs.delete('gc/first', digest);
        // ...until another upload of the same content commits it: it enters the commit, then pauses...
        const { reached, release } = driver.arm((point) => point.startsWith('commit:'));
        const upload = registry.uploads.monolithic('gc/second', digest, Readable.from([data]));
        await reached;
        // ...a gc starts and lists the links (none yet in gc/second); the commit goes on as gc lists the blobs.
        const listing = driver.arm((point) => point === 'list');
        const gc = collectGarbage(registry, { dryRun: false, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger, ahead(1000));
        await listing.reached;
        release();
        listing.release();
        const report = await gc;
        await upload;
        assert.deepEqual(report.blobsDeleted, [], 'gc deleted a blob an upload had just committed and linked');
        assert.equal(await registry.blobs.stat('gc/second', digest), data.length);
        assert.deepEqual((await collectGarbage(registry, { dryRun: true, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger)).broken, []);
      } finally {
        await registry.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    /** A metadata store that stops the first `unlinkBlob` (before it removes anything) until released. */
    class PausingMeta extends MemoryMetaStore {
      pause: { reached: () => void; until: Promise<void> } | undefined;
      override async unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
        const p = this.pause;
        if (p) {
          this.pause = undefined;
          p.reached();
          await p.until;
        }
        return super.unlinkBlob(repo, digest);
      }
    }

    it('puts back a stale link that a manifest put relied on while gc was removing it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'georeg-gc-'));
      const meta = new PausingMeta();
      const driver = await FsBlobDriver.open(dir);
      const registry = new Registry({ blobs: driver, staging: driver, meta, manifests: { maxManifestBytes: 1 << 20 } });
      try {
        const repo = 'gc/relink';
        const layer = Buffer.from(unique('relink'));
        const layerDigest = sha256(layer) as Digest;
        await registry.uploads.monolithic(repo, layerDigest, Readable.from([layer]));
        const body = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: layerDigest, size: layer.length },
            layers: [],
          }),
        );

        let release!: () => void;
        const reached = new Promise<void>((resolve) => {
          meta.pause = { reached: resolve, until: new Promise<void>((r) => (release = r)) };
        });
        // gc decides the (old, unreferenced) link is stale and starts removing it...
        const gc = collectGarbage(registry, { dryRun: false, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger, ahead(1000));
        await reached;
        // ...while a manifest put checks the link (still there) and commits...
        await registry.manifests.put(repo, { tag: 'v1', digest: undefined }, body, 'application/vnd.oci.image.manifest.v1+json');
        release();
        const report = await gc;
        // ...so gc must leave the link (and the blob) in place.
        assert.equal(report.linksRemoved, 0);
        assert.deepEqual(report.blobsDeleted, []);
        assert.equal(await registry.blobs.stat(repo, layerDigest), layer.length);
        assert.deepEqual((await collectGarbage(registry, { dryRun: true, graceMs: 0, uploadMaxAgeMs: DAY }, silentLogger)).broken, []);
      } finally {
        await registry.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('never removes the blobs of a manifest pushed while gc runs (graceMs 0)', async () => {
      const images = 40;
      const gcRuns = 6;
      const stamp = randomBytes(4).toString('hex');
      const layersOf = (i: number): string[] => [`race-${stamp}-${i}-a`, `race-${stamp}-${i}-b`, `race-${stamp}-${i}-c`];

      /** A client that pushes blobs then the manifest, and starts over when gc took its blobs in between. */
      async function push(i: number): Promise<PushedImage> {
        for (let attempt = 0; ; attempt++) {
          try {
            return await pushImage(node.url, `gc/race${i % 5}`, `v${i}`, layersOf(i));
          } catch (e) {
            const msg = (e as Error).message;
            if (attempt >= 50 || !/^push manifest: 40[04] .*"MANIFEST_BLOB_UNKNOWN"/s.test(msg)) throw e;
          }
        }
      }

      let settled = false;
      const pushes = Promise.allSettled(Array.from({ length: images }, (_, i) => push(i)));
      void pushes.then(() => (settled = true));
      const reports: GcReport[] = [];
      // Run gc back to back while the pushes are in flight (at least `gcRuns` times).
      for (let i = 0; i < gcRuns || (!settled && i < 200); i++) reports.push(await gc());
      const results = await pushes;

      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.deepEqual(
        failed.map((r) => String(r.reason)),
        [],
      );
      const pushed = results.map((r) => (r as PromiseFulfilledResult<PushedImage>).value);
      for (const [i, img] of pushed.entries()) await expectImage(`gc/race${i % 5}`, img, layersOf(i));

      const check = await gc({ dryRun: true });
      assert.deepEqual(check.broken, []);
      assert.ok(reports.length >= gcRuns);
    });

    it('twenty parallel pushes of one blob leave one blob, no staging files and nothing broken', async () => {
      const data = randomBytes(64 * 1024);
      const digests = await Promise.all(Array.from({ length: 20 }, () => pushBlob(node.url, 'gc/same', data)));
      assert.equal(new Set(digests).size, 1);
      const digest = digests[0] as string;
      await expectBlob('gc/same', digest, data);
      const staging: string[] = [];
      for await (const u of node.stores.staging.listUploads()) staging.push(u.id);
      assert.deepEqual(staging, []);

      const r = await gc({ dryRun: true }, ahead(1000));
      assert.deepEqual(r.broken, []);
      assert.deepEqual(r.blobsDeleted, [digest]);
      assert.equal(r.bytesFreed, data.length);
      assert.equal(r.linksRemoved, 1);
      await expectBlob('gc/same', digest, data);
    });
  });
});
