import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { Action, Event } from 'georeg/proto';
import { OutboxPublisher } from '../../src/events/publisher.js';
import { eventStream, eventSubject } from '../../src/events/event-stream.js';
import { MemoryMetaStore } from '../../src/meta/memory-store.js';
import { silentLogger } from '../../src/log.js';
import { compareHlc } from '../../src/hlc.js';
import { startTestNode, type TestNode } from '../support/harness.js';
import { pushImage, http } from '../support/client.js';
import { closedPort } from 'georeg/test-support';
import { TestNats } from '../support/nats.js';

const limits = { maxAgeSeconds: 3600, maxBytes: 0 };

interface Received {
  event: Event;
  msgId: string | undefined;
  subject: string;
}

/** Read `count` events from the stream, in stream order, from sequence `from` on. */
async function readEvents(nc: NatsConnection, count: number, from = 1): Promise<Received[]> {
  const js = nc.jetstream();
  const consumer = await js.consumers.get(eventStream('eu'), { opt_start_seq: from });
  const out: Received[] = [];
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push({ event: Event.decode(m.data), msgId: m.headers?.get('Nats-Msg-Id'), subject: m.subject });
    if (out.length === count) break;
  }
  return out;
}

function drained(node: TestNode): Promise<void> {
  assert.ok(node.publisher, 'events are on');
  return node.publisher.drained();
}

describe('events: outbox to JetStream (real nats-server)', function () {
  this.timeout(30_000);
  let nats: TestNats;
  let node: TestNode;
  let nc: NatsConnection;

  before(async () => {
    nats = await TestNats.start();
    node = await startTestNode({ region: 'eu', nats: { url: nats.url } });
    await node.publisher?.ready;
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await node?.close();
    await nats?.destroy();
  });

  it('publishes a push as MANIFEST_PUT then TAG_PUT, with the event id as Nats-Msg-Id', async () => {
    const img = await pushImage(node.url, 'team/app', 'v1');
    const [put, tag] = await readEvents(nc, 2);
    assert.ok(put && tag);
    assert.equal(put.subject, eventSubject('eu'));
    assert.equal(put.event.action, Action.MANIFEST_PUT);
    assert.equal(put.event.repository, 'team/app');
    assert.equal(put.event.digest, img.digest);
    assert.equal(put.event.origin, 'eu');
    assert.equal(put.event.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(put.event.size, img.manifest.length);
    assert.equal(put.msgId, put.event.id);
    assert.equal(tag.event.action, Action.TAG_PUT);
    assert.equal(tag.event.tag, 'v1');
    assert.equal(tag.event.digest, img.digest);
    assert.ok(tag.event.timestamp && put.event.timestamp);
    assert.equal(compareHlc(tag.event.timestamp, put.event.timestamp), 1, 'the tag is timestamped after its manifest');
    await drained(node);
  });

  it('keeps accepting pushes while NATS is down and publishes their events, in order, once it is back', async () => {
    const before = (await (await nc.jetstreamManager()).streams.info(eventStream('eu'))).state.last_seq;
    await nc.close();
    await nats.stop();

    const pushed = [];
    for (const tag of ['a', 'b', 'c']) pushed.push(await pushImage(node.url, 'team/offline', tag));
    const del = await http('DELETE', `${node.url}/v2/team/offline/manifests/b`);
    assert.equal(del.status, 202);
    assert.equal(node.stores.meta.outboxDepth(), 7, 'three manifests, three tags and a tag delete wait in the outbox');

    await nats.start();
    nc = await connect({ servers: nats.url });
    const events = await readEvents(nc, 7, before + 1);
    assert.deepEqual(
      events.map((e) => [Action[e.event.action], e.event.tag || e.event.digest]),
      [
        ['MANIFEST_PUT', pushed[0]?.digest],
        ['TAG_PUT', 'a'],
        ['MANIFEST_PUT', pushed[1]?.digest],
        ['TAG_PUT', 'b'],
        ['MANIFEST_PUT', pushed[2]?.digest],
        ['TAG_PUT', 'c'],
        ['TAG_DELETE', 'b'],
      ],
    );
    await drained(node);
  });

  it('deduplicates a republished event by its id', async () => {
    const js = nc.jetstream();
    const e = Event.encode(Event.fromPartial({ id: 'dup-1', origin: 'eu', repository: 'x', action: Action.TAG_DELETE, tag: 't' })).finish();
    const first = await js.publish(eventSubject('eu'), e, { msgID: 'dup-1' });
    const second = await js.publish(eventSubject('eu'), e, { msgID: 'dup-1' });
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.seq, first.seq);
  });
});

describe('events: a stream that cannot be made yet (real nats-server without JetStream)', function () {
  this.timeout(30_000);

  it('retries on one connection, and stop() leaves none open', async () => {
    const nats = await TestNats.start({ jetstream: false, monitor: true });
    const publisher = new OutboxPublisher(new MemoryMetaStore(), {
      servers: nats.url,
      region: 'eu',
      limits,
      log: silentLogger,
      maxBackoffMs: 20,
    });
    try {
      publisher.start();
      // Each failure used to open a new connection and leave the old one behind.
      while (publisher.failures < 5) await new Promise((r) => setTimeout(r, 10));
      assert.match(publisher.lastError ?? '', /./, 'the failure is reported');
      assert.equal(await nats.connections(), 1);
      await publisher.stop();
      // The server drops a closed client asynchronously: wait (bounded) for it to notice.
      const until = Date.now() + 5000;
      while ((await nats.connections()) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await nats.connections(), 0);
    } finally {
      await publisher.stop();
      await nats.destroy();
    }
  });
});

describe('events: stop() while NATS cannot be reached', function () {
  this.timeout(30_000);

  it('returns promptly while it retries an unreachable NATS with a long backoff', async () => {
    const port = await closedPort(); // nothing listens there
    const publisher = new OutboxPublisher(new MemoryMetaStore(), {
      servers: `nats://127.0.0.1:${port}`,
      region: 'eu',
      limits,
      log: silentLogger,
      maxBackoffMs: 60_000,
    });
    publisher.start();
    // Let it fail a few times, so that its backoff has grown long.
    while (publisher.failures < 4) await new Promise((r) => setTimeout(r, 10));
    const began = Date.now();
    await publisher.stop();
    assert.ok(Date.now() - began < 5000, `stop() took ${Date.now() - began} ms`);
  });
});

describe('events: the outbox lease (nodes of a region sharing one metadata store)', function () {
  this.timeout(30_000);

  it('publishes nothing while another node holds the lease, and takes it over once that node lets go', async () => {
    const nats = await TestNats.start();
    let asked!: () => void;
    const firstAsk = new Promise<void>((resolve) => (asked = resolve));
    /** A store whose lease requests are told (the publisher asks once a second). */
    class Watched extends MemoryMetaStore {
      override async tryLease(name: 'outbox' | 'gc') {
        const lease = await super.tryLease(name);
        asked();
        return lease;
      }
    }
    const meta = new Watched();
    const other = await meta.tryLease('outbox');
    assert.ok(other);
    const event = Event.encode(
      Event.fromPartial({ id: 'leased-1', origin: 'eu', repository: 'x', action: Action.TAG_DELETE, tag: 't' }),
    ).finish();
    await meta.records('routing').put('k', { v: 1 }, { events: [event] });
    const publisher = new OutboxPublisher(meta, { servers: nats.url, region: 'eu', limits, log: silentLogger });
    try {
      publisher.start();
      await firstAsk;
      assert.equal(meta.outboxDepth(), 1, 'the event waits in the outbox');
      assert.equal(publisher.published, 0);
      await other.release();
      await publisher.drained();
      assert.equal(publisher.published, 1, 'published once the lease was free');
    } finally {
      await publisher.stop();
      await nats.destroy();
    }
  });
});
