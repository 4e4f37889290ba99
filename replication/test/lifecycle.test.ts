import assert from 'node:assert/strict';
import { connect } from 'nats';
import { eventStream, eventSubject, silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, type Node } from './support.js';

/** Wait (bounded) for a condition no event announces. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('replication: a replicator starts and stops whatever NATS is doing (real nats-server)', function () {
  this.timeout(30_000);
  let nats: TestNats;
  let n: Node;

  before(async () => {
    nats = await TestNats.start({ monitor: true });
    // The peer's stream exists, so the replicator gets as far as consuming it; the peer sends nothing.
    const nc = await connect({ servers: nats.url });
    await (await nc.jetstreamManager()).streams.add({ name: eventStream('us'), subjects: [eventSubject('us')] });
    await nc.close();
    n = await node({ region: 'eu' });
  });

  /** A replicator of eu copying from a peer us that answers nothing (its stream stays quiet). */
  const replicator = (): Replicator =>
    new Replicator({
      region: 'eu',
      natsUrl: nats.url,
      peers: [{ region: 'us', address: '127.0.0.1:1' }],
      store: new LocalRegionStore(n.registry, n.clock),
      log: silentLogger,
      maxBackoffMs: 100,
    });
  after(async () => {
    await n?.close();
    await nats?.destroy();
  });

  it('starts while NATS is down, says so per peer, and consumes once NATS is back', async () => {
    await nats.stop();
    const r = replicator();
    try {
      await r.start(); // used to throw CONNECTION_REFUSED, leaving the node serving without replication
      const peer = (): { lastError?: string } => r.state.get('us') ?? {};
      await eventually(() => /CONNECTION_REFUSED/.test(peer().lastError ?? ''), 'the refused connection reported');
      await nats.start();
      await eventually(() => peer().lastError === undefined, 'consuming once NATS is back');
    } finally {
      await r.stop();
    }
  });

  it('stop() right after start(), while the consumer is still being set up, returns and leaves no connection behind', async () => {
    for (let i = 0; i < 3; i++) {
      const r = replicator();
      await r.start();
      // Before the fix, stop() waited for a message of a quiet peer's consumer: forever.
      await r.stop();
    }
    // The server drops closed clients asynchronously: wait (bounded) for it to notice.
    const until = Date.now() + 5000;
    while ((await nats.connections()) > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await nats.connections(), 0);
  });
});
