import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HybridClock, silentLogger, type HlcTimestamp } from 'georeg/nodes';
import { parseDigest, type Digest } from 'georeg/oci';
import { Copier } from '../src/copier.js';
import { LocalRegionStore } from '../src/region-store.js';
import { PeerClient } from '../src/peer-client.js';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { node, pushImage, type Node } from './support.js';

/** A real peer client that holds the copy of one manifest until released: a lane slow to finish. */
class HoldingPeer extends PeerClient {
  #held?: { digest: string; reached: () => void; release: Promise<void> };

  /** Hold the next copy of `digest`; resolves once that copy has begun, with the function that lets it go on. */
  hold(digest: string): Promise<() => void> {
    let release = (): void => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    return new Promise((reached) => (this.#held = { digest, reached: () => reached(release), release: released }));
  }

  override async getManifest(repository: string, digest: string, withReferrers = false): ReturnType<PeerClient['getManifest']> {
    const held = this.#held;
    if (held?.digest === digest) {
      this.#held = undefined;
      held.reached();
      await held.release;
    }
    return super.getManifest(repository, digest, withReferrers);
  }
}

const at = (wallMs: number): HlcTimestamp => ({ wallMs, logical: 0, region: 'eu' });

describe('replication copier: two lanes applying one tag at once', () => {
  let origin: Node;
  let target: Node;
  let server: RunningReplicationServer;
  let peer: HoldingPeer;
  let copier: Copier;
  let older: Digest;
  let newer: Digest;
  let conflicts: number;
  const conflict = (): void => {
    conflicts++;
  };

  before(async () => {
    origin = await node({ region: 'eu' });
    target = await node({ region: 'us' });
    server = await startReplicationServer(origin.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    peer = new HoldingPeer('eu', `127.0.0.1:${server.port}`);
    older = parseDigest((await pushImage(origin.url, 'team/race', 'older', randomBytes(1024))).digest);
    newer = parseDigest((await pushImage(origin.url, 'team/race', 'newer', randomBytes(1024))).digest);
  });
  beforeEach(() => {
    copier = new Copier(new LocalRegionStore(target.registry, new HybridClock('us')));
    conflicts = 0;
  });
  after(async () => {
    peer?.close();
    await server?.close();
    await origin?.close();
    await target?.close();
  });

  it('keeps the newer change when the older one finishes last: it loses as it writes', async () => {
    const reached = peer.hold(older);
    const slow = copier.applyTag('team/race', 'latest', older, at(1000), peer, conflict);
    const release = await reached; // the older change passed the clock check and is copying its manifest
    assert.equal(await copier.applyTag('team/race', 'latest', newer, at(2000), peer, conflict), true);
    release();
    assert.equal(await slow, false, 'the older change did not land');
    assert.equal(conflicts, 1, 'it counts as a conflict lost');
    assert.deepEqual(await target.registry.replication.tag('team/race', 'latest'), { digest: newer, clock: at(2000) });
  });

  it('keeps the newer change when it finishes last', async () => {
    const reached = peer.hold(newer);
    const slow = copier.applyTag('team/race', 'stable', newer, at(2000), peer, conflict);
    const release = await reached;
    assert.equal(await copier.applyTag('team/race', 'stable', older, at(1000), peer, conflict), true);
    release();
    assert.equal(await slow, true);
    assert.equal(conflicts, 0);
    assert.deepEqual(await target.registry.replication.tag('team/race', 'stable'), { digest: newer, clock: at(2000) });
  });
});
