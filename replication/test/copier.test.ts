import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { Action, Event } from 'georeg/proto';
import { HybridClock, silentLogger } from 'georeg/nodes';
import { parseDigest } from 'georeg/oci';
import { Copier, CorruptAtSource, GoneAtSource } from '../src/copier.js';
import { LocalRegionStore } from '../src/region-store.js';
import { PeerClient } from '../src/peer-client.js';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { node, pushBlob, pushImage, sha256, type Node } from './support.js';

/** A real peer client whose blob streams can be cut short or corrupted, to test recovery. */
class FaultyPeer extends PeerClient {
  /** Offsets asked for, per digest. */
  offsets = new Map<string, number[]>();
  fault?: { digest: string; kind: 'cut' | 'flip' };

  override readBlob(repository: string, digest: string, offset: number): Readable {
    this.offsets.set(digest, [...(this.offsets.get(digest) ?? []), offset]);
    const stream = super.readBlob(repository, digest, offset);
    if (this.fault?.digest !== digest) return stream;
    const fault = this.fault.kind;
    this.fault = undefined;
    let seen = 0;
    const faulty = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (fault === 'cut' && seen > 1_500_000) return cb(new Error('connection reset (injected)'));
        if (fault === 'flip' && seen > 100_000 && seen - chunk.length <= 100_000) {
          const copy = Buffer.from(chunk);
          copy[0] = (copy[0] ?? 0) ^ 0xff;
          return cb(null, copy);
        }
        cb(null, chunk);
      },
    });
    return stream.pipe(faulty);
  }
}

describe('replication copier: interrupted and corrupted blob copies', () => {
  let origin: Node;
  let target: Node;
  let server: RunningReplicationServer;
  let peer: FaultyPeer;
  let copier: Copier;

  before(async () => {
    origin = await node({ region: 'eu' });
    target = await node({ region: 'us' });
    server = await startReplicationServer(origin.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    peer = new FaultyPeer('eu', `127.0.0.1:${server.port}`);
    copier = new Copier(new LocalRegionStore(target.registry, new HybridClock('us')));
  });
  after(async () => {
    peer?.close();
    await server?.close();
    await origin?.close();
    await target?.close();
  });

  it('copies the referrers of a manifest (signatures) before it points a tag at it', async () => {
    const img = await pushImage(origin.url, 'team/signed', 'v1', randomBytes(2048));
    const empty = await pushBlob(origin.url, 'team/signed', Buffer.from('{}'));
    const sig = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.digest, size: img.manifest.length },
      }),
    );
    const put = await fetch(`${origin.url}/v2/team/signed/manifests/${sha256(sig)}`, {
      method: 'PUT',
      body: sig,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(put.status, 201);
    assert.equal(await copier.applyTag('team/signed', 'v1', parseDigest(img.digest), undefined, peer), true);
    assert.deepEqual(
      (await target.stores.meta.listReferrers('team/signed', parseDigest(img.digest))).map((d) => d.digest),
      [sha256(sig)],
    );
    // Applying the tag again copies nothing more and changes nothing.
    assert.equal(await copier.applyTag('team/signed', 'v1', parseDigest(img.digest), undefined, peer), false);
  });

  it('applies a tag change only when newer than the last one seen here, and reports an older one as a conflict', async () => {
    const img = await pushImage(origin.url, 'team/clock', 'v1', randomBytes(512));
    const digest = parseDigest(img.digest);
    let conflicts = 0;
    const conflict = (): void => {
      conflicts++;
    };
    const at = (wallMs: number) => ({ wallMs, logical: 0, region: 'eu' });
    assert.equal(await copier.applyTag('team/clock', 'v1', digest, at(2000), peer, conflict), true);
    assert.equal(await copier.applyTag('team/clock', 'v1', digest, at(2000), peer, conflict), false, 'a replay changes nothing');
    assert.equal(conflicts, 0, 'a replay is no conflict');
    assert.equal(await copier.applyTagDelete('team/clock', 'v1', at(1000), conflict), false);
    assert.equal(conflicts, 1, 'an older delete lost');
    assert.equal(await target.stores.meta.getTag('team/clock', 'v1'), digest);
    // The same image tagged again later elsewhere: its stamp is kept, so a delete older than it loses here too.
    assert.equal(await copier.applyTag('team/clock', 'v1', digest, at(3000), peer, conflict), false, 'the tag does not move');
    assert.equal(await copier.applyTagDelete('team/clock', 'v1', at(2500), conflict), false);
    assert.equal(conflicts, 2, 'a delete older than the re-tag lost');
    assert.equal(await target.stores.meta.getTag('team/clock', 'v1'), digest);
  });

  it('resumes an interrupted blob copy from the offset it reached, and the result is intact', async () => {
    const layer = randomBytes(4 * 1024 * 1024);
    const img = await pushImage(origin.url, 'team/app', 'v1', layer);
    peer.fault = { digest: img.layer, kind: 'cut' };
    await assert.rejects(copier.ensureManifest('team/app', img.digest as never, peer), /injected/);
    await copier.ensureManifest('team/app', img.digest as never, peer);
    const layerOffsets = peer.offsets.get(img.layer) ?? [];
    assert.equal(layerOffsets.length, 2);
    assert.equal(layerOffsets[0], 0, 'the first attempt started at 0');
    assert.ok((layerOffsets[1] ?? 0) > 0, `the second attempt resumed from the staged offset (got ${layerOffsets[1]})`);
    const res = await fetch(`${target.url}/v2/team/app/blobs/${img.layer}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), img.layer);
  });

  it('rejects a corrupted copy (digest mismatch), keeps nothing of it, and fetches it again whole', async () => {
    const layer = randomBytes(512 * 1024);
    const img = await pushImage(origin.url, 'team/other', 'v1', layer);
    peer.fault = { digest: img.layer, kind: 'flip' };
    await assert.rejects(
      copier.ensureManifest('team/other', img.digest as never, peer),
      (e: unknown) =>
        e instanceof CorruptAtSource && !e.settled && /eu sent team\/other@sha256:[0-9a-f]{64} with other content, 1 time/.test(e.message),
    );
    assert.equal((await fetch(`${target.url}/v2/team/other/blobs/${img.layer}`)).status, 404, 'nothing corrupt became visible');
    await copier.ensureManifest('team/other', img.digest as never, peer);
    assert.deepEqual(peer.offsets.get(img.layer), [0, 0], 'the retry starts over');
    const res = await fetch(`${target.url}/v2/team/other/blobs/${img.layer}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), img.layer);
  });

  it('a late manifest delete never removes what the source holds again; a put of what is gone there is stale', async () => {
    const img = await pushImage(origin.url, 'team/again', 'v1', randomBytes(2048));
    await copier.ensureManifest('team/again', img.digest as never, peer);
    // The delete event of an earlier push, redelivered after the manifest was pushed again at the source.
    const deleted = Event.create({
      id: 'late',
      origin: 'eu',
      repository: 'team/again',
      action: Action.MANIFEST_DELETE,
      digest: img.digest,
    });
    await copier.apply(deleted, peer);
    assert.equal(
      (await fetch(`${target.url}/v2/team/again/manifests/${img.digest}`, { method: 'HEAD' })).status,
      200,
      'kept: the source holds it',
    );
    assert.equal((await fetch(`${origin.url}/v2/team/again/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
    await copier.apply(deleted, peer);
    assert.equal(
      (await fetch(`${target.url}/v2/team/again/manifests/${img.digest}`, { method: 'HEAD' })).status,
      404,
      'gone at the source: deleted here',
    );
    const put = Event.create({ ...deleted, id: 'stale', action: Action.MANIFEST_PUT });
    await assert.rejects(copier.apply(put, peer), GoneAtSource);
    // A missing referrer or blob is a failure to retry, not a stale event.
    const other = await pushImage(origin.url, 'team/again', 'v2', randomBytes(2048));
    assert.equal((await fetch(`${origin.url}/v2/team/again/blobs/${other.layer}`, { method: 'DELETE' })).status, 202);
    await assert.rejects(
      copier.apply(Event.create({ ...put, id: 'broken', digest: other.digest }), peer),
      (e: unknown) => !(e instanceof GoneAtSource),
    );
  });
});
