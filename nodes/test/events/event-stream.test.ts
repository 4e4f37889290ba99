import assert from 'node:assert/strict';
import { connect, nanos, type JetStreamManager, type NatsConnection, type StreamInfo } from 'nats';
import { ensureStream, eventStream, eventSubject } from '../../src/events/event-stream.js';
import { OutboxPublisher } from '../../src/events/publisher.js';
import { StreamState } from '../../src/events/stream-state.js';
import { MemoryMetaStore } from '../../src/meta/memory-store.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { TestNats } from '../support/nats.js';

const SECOND = 1e9;

describe("events: a region's stream keeps what its limits say (real nats-server)", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    nats = await TestNats.start();
    nc = await connect({ servers: nats.url });
    jsm = await nc.jetstreamManager();
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  it('creates the stream with its max age and bytes, discarding the oldest, deduplicating for 10 minutes', async () => {
    await ensureStream(jsm, 'eu', { maxAgeSeconds: 7 * 24 * 3600, maxBytes: 64 * 1024 * 1024 }, silentLogger);
    const { config } = await jsm.streams.info(eventStream('eu'));
    assert.deepEqual(config.subjects, [eventSubject('eu')]);
    assert.equal(config.max_age, 7 * 24 * 3600 * SECOND);
    assert.equal(config.max_bytes, 64 * 1024 * 1024);
    assert.equal(config.discard, 'old');
    assert.equal(config.duplicate_window, 600 * SECOND);
  });

  it('shortens the duplicate window to a max age below 10 minutes (JetStream allows no longer), and 0 bytes is no byte bound', async () => {
    await ensureStream(jsm, 'short', { maxAgeSeconds: 3, maxBytes: 0 }, silentLogger);
    const { config } = await jsm.streams.info(eventStream('short'));
    assert.equal(config.max_age, 3 * SECOND);
    assert.equal(config.duplicate_window, 3 * SECOND);
    assert.equal(config.max_bytes, -1);
  });

  it("updates a previous release's stream (no limits) at start, keeping its events, and logs what changed", async () => {
    // As the previous release made it: a duplicate window and nothing else.
    await jsm.streams.add({ name: eventStream('us'), subjects: [eventSubject('us')], duplicate_window: nanos(600_000) });
    await nc.jetstream().publish(eventSubject('us'), new Uint8Array([1]), { msgID: 'kept' });
    const lines: { msg: string; [field: string]: unknown }[] = [];
    const log = createLogger({ level: 'info', write: (l) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const publisher = new OutboxPublisher(new MemoryMetaStore(), {
      servers: nats.url,
      region: 'us',
      limits: { maxAgeSeconds: 3600, maxBytes: 2 * 1024 * 1024 },
      log,
    });
    publisher.start();
    try {
      await publisher.ready;
    } finally {
      await publisher.stop();
    }
    const info = await jsm.streams.info(eventStream('us'));
    assert.equal(info.config.max_age, 3600 * SECOND);
    assert.equal(info.config.max_bytes, 2 * 1024 * 1024);
    assert.equal(info.config.duplicate_window, 600 * SECOND, 'unchanged');
    assert.equal(info.state.messages, 1, 'its events stay');
    const updated = lines.filter((l) => l.msg === 'event stream limits updated');
    assert.equal(updated.length, 1);
    const { time: _time, level: _level, msg: _msg, ...fields } = updated[0] ?? { msg: '' };
    assert.deepEqual(fields, {
      stream: eventStream('us'),
      maxAgeSeconds: { from: 0, to: 3600 },
      maxBytes: { from: -1, to: 2 * 1024 * 1024 },
    });

    lines.length = 0;
    await ensureStream(jsm, 'us', { maxAgeSeconds: 3600, maxBytes: 2 * 1024 * 1024 }, log);
    assert.deepEqual(lines, [], 'a stream with the limits already is left as it is, silently');
  });
});

describe("events: the stream's numbers for status and metrics", () => {
  const info = (state: Partial<StreamInfo['state']>): StreamInfo =>
    ({ state: { messages: 0, bytes: 0, first_seq: 0, last_seq: 0, first_ts: '0001-01-01T00:00:00Z', ...state } }) as StreamInfo;

  it('asks JetStream once for answers close together, and gives the oldest event held', async () => {
    let asked = 0;
    const stream = new StreamState('GEOREG_EVENTS_EU', () => {
      asked++;
      return Promise.resolve(info({ messages: 2, bytes: 300, first_seq: 7, last_seq: 8, first_ts: '2026-01-01T12:00:00.123456789Z' }));
    });
    const [a, b] = [await stream.read(), await stream.read()];
    assert.deepEqual(a, { name: 'GEOREG_EVENTS_EU', messages: 2, bytes: 300, firstSeq: 7, lastSeq: 8, oldest: '2026-01-01T12:00:00.123Z' });
    assert.deepEqual(b, a);
    assert.equal(asked, 1);
  });

  it('answers without waiting long when JetStream does not answer, and says why it knows nothing', async () => {
    const stream = new StreamState('GEOREG_EVENTS_EU', () => new Promise<StreamInfo>(() => undefined));
    const began = Date.now();
    const s = await stream.read();
    assert.ok(Date.now() - began < 2000, `took ${Date.now() - began} ms`);
    assert.deepEqual(s, { name: 'GEOREG_EVENTS_EU', messages: 0, bytes: 0, firstSeq: 0, lastSeq: 0, error: 'not read yet' });
  });

  it('keeps the last numbers when a read fails, with its error, until a read succeeds again', async () => {
    const answers = [
      () => Promise.resolve(info({ messages: 3, bytes: 450, first_seq: 1, last_seq: 3, first_ts: '2026-01-01T12:00:00Z' })),
      () => Promise.reject(new Error('no responders')),
      () => Promise.resolve(info({ messages: 0, bytes: 0, first_seq: 4, last_seq: 3, first_ts: '1970-01-01T00:00:00Z' })),
    ];
    const stream = new StreamState('GEOREG_EVENTS_EU', () => (answers.shift() as () => Promise<StreamInfo>)(), 0);
    const held = { name: 'GEOREG_EVENTS_EU', messages: 3, bytes: 450, firstSeq: 1, lastSeq: 3, oldest: '2026-01-01T12:00:00.000Z' };
    assert.deepEqual(await stream.read(), held);
    assert.deepEqual(await stream.read(), { ...held, error: 'no responders' });
    assert.deepEqual(
      await stream.read(),
      { name: 'GEOREG_EVENTS_EU', messages: 0, bytes: 0, firstSeq: 4, lastSeq: 3 },
      'none held: no oldest',
    );
  });
});
