import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Action, type Event, type PeerStatus } from 'georeg/proto';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, pushImage, type Node } from './support.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('replication from a region whose copy of a blob is corrupt (real nats-server, real gRPC)', function () {
  this.timeout(60_000);
  let nats: TestNats;
  let eu: Node;
  let us: Node;
  let server: RunningReplicationServer;
  let replicator: Replicator | undefined;

  before(async () => {
    nats = await TestNats.start();
    eu = await node({ region: 'eu', nats: { url: nats.url } });
    us = await node({ region: 'us', nats: { url: nats.url } });
    server = await startReplicationServer(eu.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
  });
  after(async () => {
    await replicator?.stop();
    await server?.close();
    await eu?.close();
    await us?.close();
    await nats?.destroy();
  });

  /** A replicator into us from eu, with one anti-entropy pass at start, and that pass's outcome. */
  function replicatorIntoUs(): { r: Replicator; pass: Promise<{ repairs: number; unrepaired: number }> } {
    const r = new Replicator({
      region: 'us',
      natsUrl: nats.url,
      peers: [{ region: 'eu', address: `127.0.0.1:${server.port}` }],
      store: new LocalRegionStore(us.registry, us.clock),
      log: silentLogger,
      maxBackoffMs: 300,
      antiEntropyMs: 0,
    });
    const pass = new Promise<{ repairs: number; unrepaired: number }>((resolve) =>
      r.once('repaired', (_p: string, repairs: number, unrepaired: number) => resolve({ repairs, unrepaired })),
    );
    replicator = r;
    us.status.replication = r;
    return { r, pass };
  }

  const peerStatus = async (): Promise<PeerStatus> =>
    ((await (await fetch(`${us.url}/georeg/v1/replication`)).json()) as { peers: PeerStatus[] }).peers[0] as PeerStatus;
  const status = async (repo: string, tag: string): Promise<number> =>
    (await fetch(`${us.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: MANIFEST } })).status;

  it('sets the corrupt image aside after three tries and goes on with every other repository; anti-entropy copies it once the source is mended', async () => {
    const layer = randomBytes(2 * 1024 * 1024); // past the blob cache: served from the file
    const img = await pushImage(eu.url, 'x/bad', 'v1', layer);
    const hex = img.layer.slice('sha256:'.length);
    const file = await open(join(eu.dir, 'blobs', 'sha256', hex.slice(0, 2), hex), 'r+');
    await file.write(Buffer.from('rot!'), 0, 4, 1000);
    // More events of the bad repository than JetStream hands out unacknowledged (256), then another repository's.
    for (let i = 0; i < 150; i++) {
      const res = await fetch(`${eu.url}/v2/x/bad/manifests/t${i}`, {
        method: 'PUT',
        body: new Uint8Array(img.manifest),
        headers: { 'Content-Type': MANIFEST },
      });
      assert.equal(res.status, 201);
    }
    await pushImage(eu.url, 'y/other', 'v1', randomBytes(4096));
    await eu.publisher?.drained();

    const first = replicatorIntoUs();
    let parked = 0;
    first.r.on('parked', () => parked++);
    const other = new Promise<Event>((resolve) =>
      first.r.on('applied', (e: Event) => e.action === Action.TAG_PUT && e.repository === 'y/other' && resolve(e)),
    );
    await first.r.start();
    await other;
    assert.ok((await first.pass).unrepaired > 0, 'the first anti-entropy pass could not repair x/bad, and went on');
    assert.equal(await status('y/other', 'v1'), 200, 'the other repository replicated past the corrupt one');
    // Every event handled (applied, or set aside), as JetStream counts them: polled, acknowledgements reach it late.
    let peer = await peerStatus();
    while (peer.pendingEvents > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peer = await peerStatus();
    }
    assert.ok(parked >= 1 && peer.parked === parked, `events set aside: ${parked}, status ${peer.parked}`);
    assert.ok((peer.failuresByReason.digest_mismatch ?? 0) >= 3);
    assert.equal(peer.lastAntiEntropy, undefined, 'a pass that left something unrepaired is not complete');
    assert.ok(peer.bytes < 5 * layer.length, `the corrupt blob was fetched ${peer.bytes} bytes' worth: a few tries, not one per event`);
    assert.equal(await status('x/bad', 'v1'), 404, 'nothing corrupt is served');

    await file.write(layer.subarray(1000, 1004), 0, 4, 1000);
    await file.close();
    await first.r.stop();
    const second = replicatorIntoUs();
    await second.r.start();
    const pass = await second.pass;
    assert.equal(pass.unrepaired, 0);
    assert.ok(pass.repairs >= 151, `the image and its tags were repaired (${pass.repairs})`);
    assert.equal(await status('x/bad', 'v1'), 200);
    assert.equal(await status('x/bad', 't149'), 200);
    assert.ok((await peerStatus()).lastAntiEntropy !== undefined);
  });
});
