import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, type TestNode } from '../support/harness.js';
import { TestNats } from '../support/nats.js';
import { expectError, http, pushImage } from '../support/client.js';
import type { Digest } from 'georeg/oci';
import type { HlcTimestamp } from '../../src/hlc.js';

/** A clock reading `ms` before now, stamped by a peer region. */
const peerClockAgo = (ms: number): HlcTimestamp => ({ wallMs: Date.now() - ms, logical: 0, region: 'us' });

describe('registry: tag changes and the changes of other regions', () => {
  let nats: TestNats;
  let node: TestNode;

  before(async () => {
    nats = await TestNats.start();
    node = await startTestNode({ region: 'eu', nats: { url: nats.url } });
  });
  after(async () => {
    await node?.close();
    await nats?.destroy();
  });

  it("a DELETE answering 404 changes nothing: no tombstone, no event, and a peer's older put of the tag still lands", async () => {
    const img = await pushImage(node.url, 'tags/absent', 'other', [randomBytes(64)]);
    await node.publisher?.drained();
    const published = node.publisher?.published;
    expectError(await http('DELETE', `${node.url}/v2/tags/absent/manifests/never`), 404, 'MANIFEST_UNKNOWN');
    assert.equal(await node.stores.meta.getTagClock('tags/absent', 'never'), undefined);
    assert.equal(node.stores.meta.outboxDepth(), 0, 'no event waits to be published');
    assert.equal(node.publisher?.published, published, 'no event was published');
    // Every other region, which never saw the 404, keeps this put: so must this one.
    assert.equal(
      await node.registry.replication.applyReplicatedTag('tags/absent', 'never', img.digest as Digest, peerClockAgo(1000)),
      true,
    );
    assert.equal((await http('GET', `${node.url}/v2/tags/absent/manifests/never`)).status, 200);
  });

  it("a peer's delete of a tag absent here is remembered: an older put arriving after it loses", async () => {
    const img = await pushImage(node.url, 'tags/remembered', 'other', [randomBytes(64)]);
    assert.equal(
      await node.registry.replication.applyReplicatedDelete('tags/remembered', { tag: 'gone', digest: undefined }, peerClockAgo(100)),
      false,
    );
    assert.equal(
      await node.registry.replication.applyReplicatedTag('tags/remembered', 'gone', img.digest as Digest, peerClockAgo(200)),
      false,
    );
    expectError(await http('GET', `${node.url}/v2/tags/remembered/manifests/gone`), 404, 'MANIFEST_UNKNOWN');
  });
});
