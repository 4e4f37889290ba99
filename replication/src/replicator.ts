import { EventEmitter } from 'node:events';
import type { ChannelCredentials } from '@grpc/grpc-js';
import {
  AckPolicy,
  DeliverPolicy,
  connect,
  nanos,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { Action, Event, type PeerStatus } from 'georeg/proto';
import { eventStream, type Logger, type Peer, type RegionLocation, type ReplicationStatusSource } from 'georeg/nodes';
import { Copier, CorruptAtSource, GoneAtSource, failureReason } from './copier.js';
import { antiEntropy } from './anti-entropy.js';
import { PeerClient } from './peer-client.js';
import { PeerQueries } from './peer-queries.js';
import { Lanes, Slots } from './lanes.js';
import type { RegionStore } from './region-store.js';

export interface ReplicatorOptions {
  region: string;
  natsUrl: string;
  peers: Peer[];
  /** The region copied into: the node's registry in this process (LocalRegionStore), or over gRPC. */
  store: RegionStore;
  log: Logger;
  /** Longest redelivery delay after a failed apply, ms. */
  maxBackoffMs?: number;
  /** Compare with every peer at start and then this often, ms (0: only at start). */
  antiEntropyMs?: number;
  /** How often each peer is probed for health, ms. */
  probeMs?: number;
  /** NATS credentials, when the server requires them. */
  natsAuth?: { user?: string; pass?: string };
  /** gRPC credentials toward peers (mutual TLS); plain text when absent. */
  channel?: ChannelCredentials;
  /** Events applied at once: per peer, and in total over all peers (defaults 8 and 16). */
  concurrency?: { perPeer?: number; total?: number };
}

/** Events a peer's consumer hands out before the first of them is acknowledged. */
const MAX_ACK_PENDING = 256;
/**
 * An event not acknowledged within this long goes to another consumer. Every
 * event held here (waiting in its lane, being applied, waiting to retry) is
 * reported as in progress every third of it; so only a replicator that died
 * loses its events to redelivery, after this long.
 */
const ACK_WAIT_MS = 60_000;

/**
 * The lane an event is applied in: one repository's events apply in stream
 * order (a manifest delete never overtakes its put); policy and identity
 * changes are ordered by their clocks and take their own lanes.
 */
function laneOf(event: Event): string {
  if (event.action === Action.POLICY_PUT) return 'policy';
  if (event.action === Action.IDENTITY_PUT) return `identity:${event.identityKey}`;
  return `repository:${event.repository}`;
}

export const durableName = (self: string, peer: string): string => `georeg-${self}-from-${peer}`;

/** What this region knows of its replication from one peer. */
export interface PeerState {
  region: string;
  applied: number;
  failures: number;
  lastError?: string;
  /** Repairs made by anti-entropy (content events missed). */
  repairs: number;
  /** When the last anti-entropy pass with this peer completed with nothing left unrepaired (ms since the epoch). */
  antiEntropyAt?: number;
  /** Events set aside: their content is corrupt at the peer (anti-entropy tries it again each pass). */
  parked: number;
  retries: number;
  failuresByReason: Record<string, number>;
  /** The peer answered its last health probe. */
  up: boolean;
}

/**
 * For each peer region, a durable JetStream consumer of that region's events
 * (`georeg-<self>-from-<peer>`), applied by the Copier and acknowledged only
 * once the content is durable here. Events of one repository apply in stream
 * order; different repositories apply in parallel, up to `concurrency` per peer
 * and in total. A failed event is retried in its lane with exponential backoff
 * and jitter (the lane waits: nothing after it in that repository overtakes it);
 * a restart resumes from the first unacknowledged event. An event JetStream
 * redelivers late (after a replicator died), behind newer ones, is still safe:
 * tag changes are ordered by their clocks, a manifest delete applies only when
 * the source no longer has the manifest, and a put of one that is gone there
 * is skipped. Emits `applied` (event, peer), `failed` (event, peer, error), `skipped`
 * (event, peer: its manifest was deleted at the source since) and
 * `probed` (peer, up) after each health probe.
 */
export class Replicator extends EventEmitter implements ReplicationStatusSource {
  private nc?: NatsConnection;
  private jsm?: JetStreamManager;
  private connecting?: Promise<JetStreamManager>;
  private readonly loops: Promise<void>[] = [];
  private readonly streams = new Set<ConsumerMessages>();
  private readonly wakers = new Set<() => void>();
  private readonly copier: Copier;
  private readonly clients: PeerClient[];
  private readonly queries: PeerQueries;
  readonly state = new Map<string, PeerState>();
  private stopped = false;
  private readonly total: Slots;
  /** Per peer: its lanes, and the slots its events apply in. */
  private readonly work = new Map<string, { lanes: Lanes; slots: Slots }>();
  /** Events taken from JetStream and not yet acknowledged (or handed back). */
  private readonly held = new Set<JsMsg>();
  private heartbeat?: NodeJS.Timeout;

  constructor(private readonly opts: ReplicatorOptions) {
    super();
    this.copier = new Copier(opts.store);
    this.clients = opts.peers.map((p) => new PeerClient(p.region, p.address, opts.channel));
    this.queries = new PeerQueries(this.clients, (region) => this.state.get(region)?.up === true);
    for (const p of opts.peers)
      this.state.set(p.region, {
        region: p.region,
        applied: 0,
        failures: 0,
        repairs: 0,
        parked: 0,
        retries: 0,
        failuresByReason: {},
        up: false,
      });
    this.total = new Slots(opts.concurrency?.total ?? 16);
    for (const p of opts.peers) this.work.set(p.region, { lanes: new Lanes(), slots: new Slots(opts.concurrency?.perPeer ?? 8) });
  }

  /**
   * Start the loops. NATS need not be reachable yet: each peer's loop connects
   * (once, shared) and retries with backoff, reporting the failure as the
   * peer's last error, while the node serves.
   */
  async start(): Promise<void> {
    for (const peer of this.clients) this.loops.push(this.follow(peer), this.reconcile(peer), this.probe(peer));
    this.heartbeat = setInterval(() => this.held.forEach((m) => m.working()), ACK_WAIT_MS / 3);
    this.opts.log.info('replicating', { from: this.clients.map((c) => `${c.region}@${c.address}`) });
  }

  /** JetStream, over the one NATS connection, made on first need (it reconnects by itself after that). */
  private jetstreamManager(): Promise<JetStreamManager> {
    // A connection closed for good (nats.js gives up after repeated authentication errors) is replaced.
    if (this.jsm && this.nc && !this.nc.isClosed()) return Promise.resolve(this.jsm);
    this.connecting ??= (async () => {
      const nc = await connect({
        ...this.opts.natsAuth,
        servers: this.opts.natsUrl,
        name: `georeg-${this.opts.region}-replicator`,
        reconnect: true,
        maxReconnectAttempts: -1,
        timeout: 2000,
      });
      if (this.stopped) {
        await nc.close();
        throw new Error('stopped');
      }
      this.nc = nc;
      // No API check: JetStream may still be electing its leader; follow() retries until it answers.
      this.jsm = await nc.jetstreamManager({ checkAPI: false });
      return this.jsm;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * Consume a peer's stream until stopped. The stream is the peer's to create
   * (in its own cluster): until it exists, or whenever consuming breaks off,
   * wait and try again.
   */
  private async follow(peer: PeerClient): Promise<void> {
    const state = this.state.get(peer.region) as PeerState;
    const durable = durableName(this.opts.region, peer.region);
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const jsm = await this.jetstreamManager();
        const config = {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(ACK_WAIT_MS),
          max_ack_pending: MAX_ACK_PENDING,
        };
        // A consumer made by an earlier version (one event at a time) is updated in place, keeping its position.
        await jsm.consumers.add(eventStream(peer.region), config).catch(async (err: unknown) => {
          if (!/already (exists|in use)/i.test((err as Error).message)) throw err;
          await jsm.consumers.update(eventStream(peer.region), durable, { max_ack_pending: MAX_ACK_PENDING, ack_wait: config.ack_wait });
        });
        const consumer = await (this.nc as NatsConnection).jetstream().consumers.get(eventStream(peer.region), durable);
        const messages = await consumer.consume({ max_messages: 64 });
        this.streams.add(messages);
        // stop() may have come while the consumer was being set up: it only stops the streams it saw.
        if (this.stopped) messages.stop();
        attempt = 0;
        state.lastError = undefined;
        try {
          for await (const m of messages) {
            if (this.stopped) break;
            this.dispatch(peer, state, m);
          }
        } finally {
          this.streams.delete(messages);
        }
      } catch (err) {
        state.lastError = `${eventStream(peer.region)}: ${(err as Error).message}`;
        if (attempt === 0) this.opts.log.warn('cannot consume peer events yet; retrying', { from: peer.region, err: state.lastError });
      }
      if (!this.stopped) await this.pause(Math.min(this.opts.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(attempt, 7)));
    }
  }

  /** Anti-entropy with one peer: at start, then every antiEntropyMs until stopped. Emits `repaired` (peer, repairs, unrepaired). */
  private async reconcile(peer: PeerClient): Promise<void> {
    const state = this.state.get(peer.region) as PeerState;
    for (let attempt = 0; !this.stopped;) {
      let wait = this.opts.antiEntropyMs ?? 300_000;
      try {
        const { repairs: n, failed } = await antiEntropy(this.opts.store, this.copier, peer);
        state.repairs += n;
        attempt = 0;
        if (n > 0) this.opts.log.info('anti-entropy repaired', { from: peer.region, repairs: n });
        if (failed.length === 0) state.antiEntropyAt = Date.now();
        else {
          // What could not be repaired waits for the next pass; its peer answered, so no quicker retry.
          for (const f of failed) this.failed(state, f.err);
          const items = failed.slice(0, 10).map((f) => `${f.what}: ${(f.err as Error).message}`);
          this.opts.log.warn('anti-entropy could not repair everything; the next pass tries again', {
            from: peer.region,
            unrepaired: failed.length,
            items,
          });
        }
        this.emit('repaired', peer.region, n, failed.length);
        if (wait === 0) return;
      } catch (err) {
        attempt++;
        wait = Math.min(wait || 30_000, 1000 * 2 ** Math.min(attempt, 5));
        this.opts.log.warn('anti-entropy failed; will retry', { from: peer.region, err: (err as Error).message });
      }
      await this.pause(wait);
    }
  }

  /** Probe a peer's health until stopped: a region that is down shows even when it has nothing to send. */
  private async probe(peer: PeerClient): Promise<void> {
    const state = this.state.get(peer.region) as PeerState;
    const every = this.opts.probeMs ?? 5000;
    while (!this.stopped) {
      state.up = await peer.ping(Math.min(every, 3000));
      this.emit('probed', peer.region, state.up);
      await this.pause(every);
    }
  }

  /** Sleep, cut short by stop() (and none at all once stopping: a loop may get here after stop() woke the sleepers). */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** Queue a message in its lane; a message that is not an event is dropped for good. */
  private dispatch(peer: PeerClient, state: PeerState, m: JsMsg): void {
    let event: Event;
    try {
      event = Event.decode(m.data);
    } catch (err) {
      this.opts.log.error('undecodable event dropped', { from: peer.region, seq: m.seq, err });
      m.term();
      return;
    }
    const { lanes } = this.work.get(peer.region) as { lanes: Lanes };
    this.held.add(m);
    void lanes.run(laneOf(event), () => this.applyInLane(peer, state, m, event).finally(() => this.held.delete(m)));
  }

  /**
   * Apply one event, retrying with backoff until it succeeds or the replicator
   * stops (then it is handed back to JetStream for the next start). A slot is
   * held only while applying, not while waiting to retry.
   */
  private async applyInLane(peer: PeerClient, state: PeerState, m: JsMsg, event: Event): Promise<void> {
    const { slots } = this.work.get(peer.region) as { slots: Slots };
    for (let attempt = 0; ; attempt++) {
      await slots.acquire();
      await this.total.acquire();
      try {
        if (this.stopped) {
          m.nak();
          return;
        }
        await this.copier.apply(event, peer);
        m.ack();
        state.applied++;
        state.lastError = undefined;
        this.emit('applied', event, peer.region);
        return;
      } catch (err) {
        if (this.stopped) {
          m.nak(); // cut by stop(): no failure, the next start applies it
          return;
        }
        if (err instanceof GoneAtSource) {
          // The source published the event after committing the manifest: gone now, it was deleted
          // there since, and a later event in this lane says so. Waiting cannot help.
          m.ack();
          this.opts.log.info('event skipped: its manifest is gone at the source since', {
            from: peer.region,
            event: event.id,
            repository: event.repository,
            digest: event.digest,
          });
          this.emit('skipped', event, peer.region);
          return;
        }
        this.failed(state, err);
        this.emit('failed', event, peer.region, err);
        if (err instanceof CorruptAtSource && err.settled) {
          // Retrying cannot mend the peer's copy, and this lane would hold every later event of the
          // repository, and with them the peer's whole window of unacknowledged events.
          m.ack();
          state.parked++;
          this.opts.log.error('event set aside: its content is corrupt at the source; anti-entropy tries it again each pass', {
            from: peer.region,
            event: event.id,
            repository: event.repository,
            err: state.lastError,
          });
          this.emit('parked', event, peer.region);
          return;
        }
      } finally {
        this.total.release();
        slots.release();
      }
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 200 * 2 ** Math.min(attempt, 12)) * (0.5 + Math.random() / 2);
      this.opts.log.warn('event not applied; will retry', {
        from: peer.region,
        event: event.id,
        attempt: attempt + 1,
        delayMs: Math.round(delay),
        err: state.lastError,
      });
      await this.pause(delay);
      state.retries++;
    }
  }

  /** Count a failure to apply an event or repair content from a peer. */
  private failed(state: PeerState, err: unknown): void {
    const reason = failureReason(err);
    state.failures++;
    state.failuresByReason[reason] = (state.failuresByReason[reason] ?? 0) + 1;
    state.lastError = (err as Error).message;
  }

  /** Per peer: events not yet applied here, and the age of the oldest of them. */
  async peers(): Promise<PeerStatus[]> {
    return Promise.all(
      this.clients.map(async (peer) => {
        const state = this.state.get(peer.region) as PeerState;
        let pendingEvents = 0;
        let lagSeconds = 0;
        // A failed status query shows in this answer only: it says nothing of replication itself,
        // so it must not stick as the peer's last error (which only applying events clears).
        let queryError: string | undefined;
        try {
          const info = await this.jsm?.consumers.info(eventStream(peer.region), durableName(this.opts.region, peer.region));
          if (info) {
            pendingEvents = info.num_pending + info.num_ack_pending;
            if (pendingEvents > 0) lagSeconds = await this.ageOf(info.ack_floor.stream_seq + 1, peer.region);
          }
        } catch (err) {
          queryError = `status of ${eventStream(peer.region)}: ${(err as Error).message}`;
        }
        return {
          region: peer.region,
          lagSeconds,
          pendingEvents,
          bytesInFlight: peer.bytesInFlight,
          applied: state.applied,
          failures: state.failures,
          repairs: state.repairs,
          parked: state.parked,
          ...(state.antiEntropyAt !== undefined && { lastAntiEntropy: new Date(state.antiEntropyAt).toISOString() }),
          blobs: peer.blobsCopied,
          bytes: peer.bytesCopied,
          retries: state.retries,
          conflicts: peer.conflicts,
          failuresByReason: { ...state.failuresByReason },
          up: state.up,
          lastError: state.lastError ?? queryError,
        };
      }),
    );
  }

  locate(repository: string, reference: string): Promise<RegionLocation[]> {
    return this.queries.locate(repository, reference);
  }

  findBlob(repository: string, digest: string): Promise<string | undefined> {
    return this.queries.findBlob(repository, digest);
  }

  /** Seconds since the event at sequence `seq` of `peer`'s stream was stamped. */
  private async ageOf(seq: number, peer: string): Promise<number> {
    const m = await this.jsm?.streams.getMessage(eventStream(peer), { seq });
    const wall = m ? Event.decode(m.data).timestamp?.wallMs : undefined;
    return wall === undefined ? 0 : Math.max(0, (Date.now() - wall) / 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    for (const s of this.streams) s.stop();
    // A blob copy over a slow link, or anti-entropy against a hung peer, could take minutes: cut, it resumes on the next start.
    this.clients.forEach((c) => c.cancelAll());
    for (const w of this.wakers) w();
    await Promise.allSettled(this.loops);
    await Promise.all([...this.work.values()].map((w) => w.lanes.idle()));
    this.clients.forEach((c) => c.close());
    await this.nc?.close().catch(() => undefined);
  }
}
