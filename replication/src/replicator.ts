import { EventEmitter } from 'node:events';
import { AckPolicy, DeliverPolicy, connect, nanos, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats';
import { Event } from 'georeg/proto';
import { EVENT_STREAM, ensureStream, eventSubject, type HybridClock, type Logger, type Peer, type Registry } from 'georeg/nodes';
import { Copier } from './copier.js';
import { PeerClient } from './peer-client.js';

export interface ReplicatorOptions {
  region: string;
  natsUrl: string;
  peers: Peer[];
  registry: Registry;
  clock: HybridClock;
  log: Logger;
  /** Longest redelivery delay after a failed apply, ms. */
  maxBackoffMs?: number;
}

/** What this region knows of its replication from one peer. */
export interface PeerState {
  region: string;
  applied: number;
  failures: number;
  lastError?: string;
  /** Wall time (ms) of the event being applied, while one is; for the lag. */
  applying?: number;
}

/**
 * For each peer region, a durable JetStream consumer of that region's events
 * (`georeg-<self>-from-<peer>`), applied one at a time in stream order by the
 * Copier and acknowledged only once the content is durable here. A failed event
 * is redelivered with exponential backoff and jitter; a restart resumes from the
 * first unacknowledged event. Emits `applied` (event, peer) and `failed` (event, peer, error).
 */
export class Replicator extends EventEmitter {
  private nc?: NatsConnection;
  private readonly loops: Promise<void>[] = [];
  private readonly streams: ConsumerMessages[] = [];
  private readonly copier: Copier;
  private readonly clients: PeerClient[];
  readonly state = new Map<string, PeerState>();
  private stopped = false;

  constructor(private readonly opts: ReplicatorOptions) {
    super();
    this.copier = new Copier(opts.registry, opts.clock);
    this.clients = opts.peers.map((p) => new PeerClient(p.region, p.address));
    for (const p of opts.peers) this.state.set(p.region, { region: p.region, applied: 0, failures: 0 });
  }

  async start(): Promise<void> {
    const nc = await connect({ servers: this.opts.natsUrl, name: `georeg-${this.opts.region}-replicator`, reconnect: true, maxReconnectAttempts: -1 });
    this.nc = nc;
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm);
    for (const peer of this.clients) {
      const durable = `georeg-${this.opts.region}-from-${peer.region}`;
      await jsm.consumers.add(EVENT_STREAM, {
        durable_name: durable,
        filter_subject: eventSubject(peer.region),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(5 * 60 * 1000),
        max_ack_pending: 1,
      });
      const consumer = await nc.jetstream().consumers.get(EVENT_STREAM, durable);
      const messages = await consumer.consume({ max_messages: 64 });
      this.streams.push(messages);
      this.loops.push(this.run(peer, messages));
    }
    this.opts.log.info('replicating', { from: this.clients.map((c) => `${c.region}@${c.address}`) });
  }

  private async run(peer: PeerClient, messages: ConsumerMessages): Promise<void> {
    const state = this.state.get(peer.region) as PeerState;
    for await (const m of messages) {
      if (this.stopped) break;
      await this.handle(peer, state, m);
    }
  }

  private async handle(peer: PeerClient, state: PeerState, m: JsMsg): Promise<void> {
    let event: Event;
    try {
      event = Event.decode(m.data);
    } catch (err) {
      this.opts.log.error('undecodable event dropped', { from: peer.region, seq: m.seq, err });
      m.term();
      return;
    }
    state.applying = event.timestamp?.wallMs;
    try {
      await this.copier.apply(event, peer);
      m.ack();
      state.applied++;
      state.lastError = undefined;
      this.emit('applied', event, peer.region);
    } catch (err) {
      state.failures++;
      state.lastError = (err as Error).message;
      const attempt = m.info.redeliveryCount;
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 200 * 2 ** Math.min(attempt, 12)) * (0.5 + Math.random() / 2);
      this.opts.log.warn('event not applied; will retry', { from: peer.region, event: event.id, attempt, delayMs: Math.round(delay), err: state.lastError });
      m.nak(delay);
      this.emit('failed', event, peer.region, err);
    } finally {
      state.applying = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.streams) s.stop();
    await Promise.allSettled(this.loops);
    this.clients.forEach((c) => c.close());
    await this.nc?.close().catch(() => undefined);
  }
}
