import { EventEmitter } from 'node:events';
import type { ChannelCredentials } from '@grpc/grpc-js';
import {
  AckPolicy,
  DeliverPolicy,
  ConsumerEvents,
  connect,
  nanos,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { Action, Event, type PeerStatus } from 'georeg/proto';
import {
  eventStream,
  type FetchOutcome,
  type Logger,
  type Peer,
  type RegionLocation,
  type RegionView,
  type ReplicationStatusSource,
  type BlobStream,
} from 'georeg/nodes';
import type { Digest, ParsedManifest, Reference } from 'georeg/oci';
import { Copier, CorruptAtSource, GoneAtSource, failureReason } from './copier.js';
import { antiEntropy } from './anti-entropy.js';
import { PeerClient } from './peer-client.js';
import { PeerQueries } from './peer-queries.js';
import { FetchThrough } from './fetch-through.js';
import { streamBlob } from './blob-stream.js';
import type { HealthOf, PeerHealth } from './peer-health.js';
import { Lanes, Slots } from './lanes.js';
import type { RegionStore } from './region-store.js';
import { RepositoryOrder } from './repository-order.js';

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
  /**
   * A peer that stops answering is taken for down (out of routing) within this long, ms (default
   * 10 s): it is probed every third of it, each probe waiting at most that long (3 s at most).
   */
  failoverMs?: number;
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
 * An event not acknowledged within this long is delivered again. Every event
 * held here (waiting in its lane, being applied, waiting to retry) is reported
 * as in progress every third of it; so only events lost on the way (sent into
 * a partition before either side noticed) or held by a replicator that died
 * wait this long: after a heal, events lost at the start of a cut come again
 * at most this long after they were sent.
 */
const ACK_WAIT_MS = 6_000;
/**
 * Deadline of a JetStream API call (consumer add and info, and nats.js's own checks while it
 * follows a stream). A call sent into a partition waits this out even after the heal, so it
 * bounds how soon following starts again; in a whole network they answer in milliseconds.
 */
const JS_API_MS = 2000;
/**
 * How long a pull for a peer's events stays open. nats.js checks the consumer
 * and pulls again after two missed heartbeats (half of this each), and waits
 * up to this long between checks while the peer's JetStream does not answer:
 * so it bounds how soon events flow again after a partition heals.
 */
const PULL_EXPIRES_MS = 2000;
/** Wait before following the events of a peer that answers its probes again after a failure. */
const FOLLOW_RETRY_UP_MS = 500;
/** Longest wait before following a peer's events again after a failure (each try while its JetStream is unreachable also waits for a timeout). */
const FOLLOW_RETRY_MS = 5000;
/** While a peer is down it is probed this often, with this deadline, so that the waits for it end soon after it is back. */
const DOWN_PROBE_MS = 1000;
/** How long a consumer's acknowledgement floor is taken as known (RepositoryOrder asks it for each event out of turn). */
const ACK_FLOOR_MS = 100;
/** How long a status answer waits for fresh numbers from JetStream before it answers with the last it has. */
const STATUS_WAIT_MS = 300;

/**
 * The lane an event is applied in: one repository's events apply in stream
 * order (a manifest delete never overtakes its put); policy, identity and
 * lock changes are ordered by their clocks and take their own lanes.
 */
function laneOf(event: Event): string {
  if (event.action === Action.POLICY_PUT) return 'policy';
  if (event.action === Action.IDENTITY_PUT) return `identity:${event.identityKey}`;
  if (event.action === Action.LOCK_PUT) return `lock:${event.lockKey}`;
  return `repository:${event.repository}`;
}

/** The kinds of event this release applies. */
const KNOWN_ACTIONS: ReadonlySet<Action> = new Set([
  Action.MANIFEST_PUT,
  Action.TAG_PUT,
  Action.TAG_DELETE,
  Action.MANIFEST_DELETE,
  Action.POLICY_PUT,
  Action.IDENTITY_PUT,
  Action.LOCK_PUT,
]);

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
  /** Events handed back to wait for an earlier one of their repository (RepositoryOrder). */
  deferred: number;
  failuresByReason: Record<string, number>;
  /** The peer answered its last health probe. */
  up: boolean;
  /** Events not yet applied here and the age of the oldest, as JetStream last told (see Replicator.peers). */
  pendingEvents: number;
  lagSeconds: number;
  /** Why the last query of those failed, while it is the last. */
  queryError?: string;
}

/**
 * For each peer region, a durable JetStream consumer of that region's events
 * (`georeg-<self>-from-<peer>`), applied by the Copier and acknowledged only
 * once the content is durable here. Events of one repository apply in stream
 * order, also where the nodes of a region share the consumer (RepositoryOrder);
 * different repositories apply in parallel, up to `concurrency` per peer
 * and in total. A failed event is retried in its lane with exponential backoff
 * and jitter (the lane waits: nothing after it in that repository overtakes it);
 * a restart resumes from the first unacknowledged event. An event JetStream
 * redelivers late (after a replicator died), behind newer ones, is still safe:
 * tag changes are ordered by their clocks, a manifest delete applies only when
 * the source no longer has the manifest, and a put of one that is gone there
 * is skipped. Emits `applied` (event, peer), `failed` (event, peer, error), `skipped`
 * (event, peer: its manifest was deleted at the source since), `deferred` (event,
 * peer: handed back to wait for an earlier event of its repository, applying on
 * another node) and `probed` (peer, up) after each health probe.
 */
export class Replicator extends EventEmitter implements ReplicationStatusSource {
  private nc?: NatsConnection;
  private jsm?: JetStreamManager;
  private connecting?: Promise<JetStreamManager>;
  private readonly loops: Promise<void>[] = [];
  private readonly streams = new Set<ConsumerMessages>();
  /** Per peer, the stream of its events being followed, and whether its heartbeats stopped since its last event. */
  private readonly following = new Map<string, { messages: ConsumerMessages; stalled: boolean }>();
  /** Streams stopped by renew(): their follow loop starts again without a pause. */
  private readonly renewed = new Set<ConsumerMessages>();
  /** Sleepers to wake early: on stop, all; when a peer is back, those waiting on that peer. */
  private readonly wakers = new Map<() => void, string | undefined>();
  /** Per peer: the query of its consumer's numbers in progress (one at a time). */
  private readonly measuring = new Map<string, Promise<void>>();
  private readonly copier: Copier;
  private readonly clients: PeerClient[];
  private readonly queries: PeerQueries;
  private readonly fetching: FetchThrough;
  private readonly health: HealthOf;
  readonly state = new Map<string, PeerState>();
  private stopped = false;
  private readonly total: Slots;
  /** Per peer: its lanes, and the slots its events apply in. */
  private readonly work = new Map<string, { lanes: Lanes; slots: Slots }>();
  /** Events taken from JetStream and not yet acknowledged (or handed back). */
  private readonly held = new Set<JsMsg>();
  private readonly order: RepositoryOrder;
  /** Per peer: its consumer's acknowledgement floor, asked at most every ACK_FLOOR_MS. */
  private readonly ackFloors = new Map<string, { at: number; floor: Promise<number | undefined> }>();
  private heartbeat?: NodeJS.Timeout;

  constructor(private readonly opts: ReplicatorOptions) {
    super();
    this.copier = new Copier(opts.store);
    this.order = new RepositoryOrder(opts.store.positions, (peer) => this.ackFloor(peer), opts.log);
    this.clients = opts.peers.map((p) => new PeerClient(p.region, p.address, opts.channel));
    this.health = (region: string): PeerHealth => {
      const client = this.clients.find((c) => c.region === region);
      return {
        up: this.state.get(region)?.up === true,
        drained: client?.drained ?? false,
        rttMs: client?.rttMs,
        publicUrl: client?.publicUrl,
      };
    };
    this.queries = new PeerQueries(this.clients, this.health);
    this.fetching = new FetchThrough(this.clients, this.health, this.copier);
    for (const p of opts.peers)
      this.state.set(p.region, {
        region: p.region,
        applied: 0,
        failures: 0,
        repairs: 0,
        parked: 0,
        retries: 0,
        deferred: 0,
        failuresByReason: {},
        up: false,
        pendingEvents: 0,
        lagSeconds: 0,
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
      this.jsm = await nc.jetstreamManager({ checkAPI: false, timeout: JS_API_MS });
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
    // Made (or updated) once: creating needs JetStream's metadata leader, which a heal may take seconds to elect, while
    // following an existing consumer needs only its own leader in the peer's cluster.
    let made = false;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const jsm = await this.jetstreamManager();
        if (!made) {
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
          made = true;
        }
        const js = (this.nc as NatsConnection).jetstream({ timeout: JS_API_MS });
        const consumer = await js.consumers.get(eventStream(peer.region), durable);
        const messages = await consumer.consume({ max_messages: 64, expires: PULL_EXPIRES_MS });
        this.streams.add(messages);
        this.following.set(peer.region, { messages, stalled: false });
        void this.watchHeartbeats(peer.region, messages);
        // stop() may have come while the consumer was being set up: it only stops the streams it saw.
        if (this.stopped) messages.stop();
        attempt = 0;
        state.lastError = undefined;
        try {
          for await (const m of messages) {
            if (this.stopped) break;
            const following = this.following.get(peer.region);
            if (following) following.stalled = false;
            this.dispatch(peer, state, m);
          }
        } finally {
          this.streams.delete(messages);
          this.following.delete(peer.region);
        }
        if (this.renewed.delete(messages)) {
          attempt = -1; // renewed when the peer came back: follow again at once
          continue;
        }
      } catch (err) {
        if (/consumer not found/i.test((err as Error).message)) made = false;
        state.lastError = `${eventStream(peer.region)}: ${(err as Error).message}`;
        if (attempt === 0) this.opts.log.warn('cannot consume peer events yet; retrying', { from: peer.region, err: state.lastError });
      }
      // While the peer answers its probes its stream is about to be reachable (a heal: gateways and leaders come back
      // within seconds), so try again soon; while it is down, back off (its comeback ends the wait).
      const backoff = this.health(peer.region).up ? FOLLOW_RETRY_UP_MS : 250 * 2 ** Math.min(attempt, 5);
      if (!this.stopped) await this.pause(Math.min(this.opts.maxBackoffMs ?? FOLLOW_RETRY_MS, FOLLOW_RETRY_MS, backoff), peer.region);
    }
  }

  /** Mark a peer's stream stalled when its pulls' heartbeats stop (nats.js then checks the consumer and pulls again, on its own backoff). */
  private async watchHeartbeats(region: string, messages: ConsumerMessages): Promise<void> {
    for await (const s of await messages.status()) {
      const following = this.following.get(region);
      if (s.type === ConsumerEvents.HeartbeatsMissed && following?.messages === messages) following.stalled = true;
    }
  }

  /**
   * The peer answers its probe again: if its stream stalled meanwhile (a partition cut the
   * pulls), follow it anew at once instead of waiting for nats.js's checks, whose calls sent
   * into the partition wait out their deadline and then a backoff.
   */
  private renew(region: string): void {
    const following = this.following.get(region);
    if (!following?.stalled) return;
    this.opts.log.info('following peer events anew after it came back', { from: region });
    this.renewed.add(following.messages);
    following.messages.stop();
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

  /**
   * Probe a peer's health until stopped: a region that is down shows even when it has nothing to
   * send. A peer that is down is probed every second; when it answers again, every wait on it
   * (retries of its events, following its stream) ends at once.
   */
  private async probe(peer: PeerClient): Promise<void> {
    const state = this.state.get(peer.region) as PeerState;
    const every = (this.opts.failoverMs ?? 10_000) / 3;
    let was: boolean | undefined;
    let downSince = Date.now();
    while (!this.stopped) {
      // A probe into a partition waits out its deadline: while the peer is down, a short one, so its return shows within 2 s.
      const up = await peer.ping(was === false ? DOWN_PROBE_MS : Math.min(every, 3000));
      if (this.stopped) return;
      state.up = up;
      if (up && was !== true) {
        this.opts.log.info('peer reachable', { from: peer.region, downSeconds: Math.round((Date.now() - downSince) / 100) / 10 });
        this.wake(peer.region);
        this.renew(peer.region);
      } else if (!up && was !== false) {
        downSince = Date.now();
        this.opts.log.warn('peer unreachable; its events wait until it answers', { from: peer.region, address: peer.address });
      }
      was = up;
      this.emit('probed', peer.region, up);
      await this.pause(up ? every : Math.min(every, DOWN_PROBE_MS));
    }
  }

  /**
   * Sleep, cut short by stop() or, for a wait on `peer`, by that peer coming back (and none at all
   * once stopping: a loop may get here after stop() woke the sleepers).
   */
  private pause(ms: number, peer?: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wakers.set(wake, peer);
    });
  }

  /** End the waits on `peer` (all waits when none is named). */
  private wake(peer?: string): void {
    for (const [wake, on] of this.wakers) if (peer === undefined || on === peer) wake();
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
    if (!KNOWN_ACTIONS.has(event.action)) {
      // A change of a kind only a later release knows: this release cannot apply it, and holding
      // it for retries would only fill the consumer's window of pending events.
      this.opts.log.warn('event of a kind this release does not know skipped', { from: peer.region, seq: m.seq, action: event.action });
      m.ack();
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
        const wait = await this.order.wait(peer.region, m, event);
        if (wait !== undefined) {
          m.nak(wait); // back to JetStream until the repository's earlier event has applied on another node
          state.deferred++;
          this.emit('deferred', event, peer.region);
          return;
        }
        await this.copier.apply(event, peer);
        await this.order.done(peer.region, m, event);
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
          await this.order.done(peer.region, m, event);
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
          await this.order.done(peer.region, m, event);
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
      await this.pause(delay, peer.region);
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

  /**
   * Per peer: events not yet applied here, and the age of the oldest of them. A peer's stream lives
   * in its own region, so while a partition cuts it off JetStream takes seconds to say it cannot
   * answer: the answer waits at most STATUS_WAIT_MS for fresh numbers and otherwise gives the last
   * ones (the query goes on, for the next answer), so it never waits on an unreachable peer.
   */
  async peers(): Promise<PeerStatus[]> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.clients.map((peer) => this.measure(peer.region))),
      new Promise((resolve) => (timer = setTimeout(resolve, STATUS_WAIT_MS))),
    ]);
    clearTimeout(timer);
    return this.clients.map((peer) => {
      const state = this.state.get(peer.region) as PeerState;
      return {
        region: peer.region,
        lagSeconds: state.lagSeconds,
        pendingEvents: state.pendingEvents,
        bytesInFlight: peer.bytesInFlight,
        applied: state.applied,
        failures: state.failures,
        repairs: state.repairs,
        parked: state.parked,
        ...(state.antiEntropyAt !== undefined && { lastAntiEntropy: new Date(state.antiEntropyAt).toISOString() }),
        blobs: peer.blobsCopied,
        bytes: peer.bytesCopied,
        retries: state.retries,
        deferred: state.deferred,
        conflicts: peer.conflicts,
        failuresByReason: { ...state.failuresByReason },
        up: state.up,
        ...(peer.rttMs !== undefined && { rttMs: Math.round(peer.rttMs * 100) / 100 }),
        drained: peer.drained,
        ...(peer.publicUrl && { publicUrl: peer.publicUrl }),
        lastError: state.lastError ?? state.queryError,
      };
    });
  }

  /** The stream sequence up to which `region`'s consumer has every event acknowledged (RepositoryOrder). */
  private ackFloor(region: string): Promise<number | undefined> {
    const known = this.ackFloors.get(region);
    if (known && Date.now() - known.at < ACK_FLOOR_MS) return known.floor;
    const floor = (async () => {
      const info = await this.jsm?.consumers.info(eventStream(region), durableName(this.opts.region, region));
      return info?.ack_floor.stream_seq;
    })().catch(() => undefined);
    this.ackFloors.set(region, { at: Date.now(), floor });
    return floor;
  }

  /**
   * Ask JetStream for a peer's pending events and lag (one query per peer at a time). A failed
   * query says nothing of replication itself, so it does not stick as the peer's last error (which
   * only applying events clears): it shows until the next query answers.
   */
  private measure(region: string): Promise<void> {
    const state = this.state.get(region) as PeerState;
    let query = this.measuring.get(region);
    if (query) return query;
    query = (async () => {
      try {
        const info = await this.jsm?.consumers.info(eventStream(region), durableName(this.opts.region, region));
        if (info) {
          state.pendingEvents = info.num_pending + info.num_ack_pending;
          state.lagSeconds = state.pendingEvents > 0 ? await this.ageOf(info.ack_floor.stream_seq + 1, region) : 0;
        }
        state.queryError = undefined;
      } catch (err) {
        state.queryError = `status of ${eventStream(region)}: ${(err as Error).message}`;
      }
    })().finally(() => this.measuring.delete(region));
    this.measuring.set(region, query);
    return query;
  }

  streamBlob(repository: string, digest: Digest): Promise<BlobStream | undefined> {
    return streamBlob(this.clients, this.health, this.opts.store, repository, digest);
  }

  /** Every peer's own view, and what each has yet to apply of this region's events (from this region's JetStream). */
  async views(): Promise<RegionView[]> {
    const [views, pending] = await Promise.all([
      this.queries.views(),
      Promise.all(this.clients.map((p) => this.pendingFromHere(p.region))),
    ]);
    return views.map((v, i) => ({ ...v, ...(pending[i] !== undefined && { pendingFromHere: pending[i] }) }));
  }

  /** Events of this region's stream that `region`'s consumer has not acknowledged; undefined when JetStream does not say. */
  private async pendingFromHere(region: string): Promise<number | undefined> {
    try {
      const info = await this.jsm?.consumers.info(eventStream(this.opts.region), durableName(region, this.opts.region));
      return info && info.num_pending + info.num_ack_pending;
    } catch {
      return undefined;
    }
  }

  locate(repository: string, reference: string): Promise<RegionLocation[]> {
    return this.queries.locate(repository, reference);
  }

  findBlob(repository: string, digest: string, region?: string): Promise<string | undefined> {
    return this.queries.findBlob(repository, digest, region);
  }

  publicUrlOf(region: string): string | undefined {
    const h = this.health(region);
    return h.up ? h.publicUrl : undefined;
  }

  fetch(repository: string, reference: Reference): Promise<FetchOutcome> {
    return this.fetching.fetch(repository, reference);
  }

  fetchReferences(repository: string, manifest: Pick<ParsedManifest, 'blobs' | 'children'>): Promise<FetchOutcome> {
    return this.fetching.references(repository, manifest);
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
    this.wake();
    await Promise.allSettled(this.loops);
    await Promise.all([...this.work.values()].map((w) => w.lanes.idle()));
    this.clients.forEach((c) => c.close());
    await this.nc?.close().catch(() => undefined);
  }
}
