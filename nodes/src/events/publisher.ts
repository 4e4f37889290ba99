import { connect, headers, type JetStreamClient, type JetStreamManager, type NatsConnection, type StreamInfo } from 'nats';
import { Event } from 'georeg/proto';
import type { Logger } from '../log.js';
import type { MetaStore } from '../meta/store.js';
import type { Lease } from '../meta/lease.js';
import { ensureStream, eventStream, eventSubject, REPOSITORY_SEQ_HEADER, type StreamLimits } from './event-stream.js';
import { StreamState } from './stream-state.js';

export interface PublisherOptions {
  servers: string;
  /** NATS credentials, when the server requires them. */
  auth?: { user?: string; pass?: string };
  region: string;
  /** What the region's stream keeps: set when it is created, and updated at start when it differs. */
  limits: StreamLimits;
  log: Logger;
  /** Entries read from the outbox per round. */
  batch?: number;
  /** Longest wait between retries while NATS is unreachable, ms. */
  maxBackoffMs?: number;
}

/**
 * Drains the outbox into JetStream: publishes each event (event id as
 * Nats-Msg-Id, so a republish after a crash is deduplicated), waits for the
 * stream's ack, and only then deletes the entry. Pushes never wait for this:
 * with NATS down, events stay in the outbox and go out in order when it is back.
 * Of the nodes sharing one metadata store (a region of several nodes), only the one
 * holding the store's `outbox` lease publishes, so events go out in outbox order;
 * the others try to take it every second, and one does once its holder is gone.
 */
export class OutboxPublisher {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private jsm?: JetStreamManager;
  private running = false;
  private lease?: Lease;
  private wake?: () => void;
  private idle: Promise<void> = Promise.resolve();
  /** Rounds failed in a row (0 while publishing works). */
  failures = 0;
  /** Set by notify(): the outbox may hold new entries. */
  private dirty = false;
  private drainWaiters: (() => void)[] = [];
  private readyResolve!: () => void;
  /** Resolves once connected to JetStream with the event stream in place. */
  readonly ready = new Promise<void>((resolve) => (this.readyResolve = resolve));
  /** Events published since start (for status). */
  published = 0;
  lastError?: string;
  /** The size of this region's stream and its oldest event (for status and metrics). */
  readonly stream: StreamState;

  constructor(
    private readonly meta: MetaStore,
    private readonly opts: PublisherOptions,
  ) {
    this.stream = new StreamState(eventStream(opts.region), () => this.streamInfo());
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.idle = this.loop();
  }

  /** Resolves the next time the outbox is empty. */
  drained(): Promise<void> {
    if (this.meta.outboxDepth() === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Something was written to the outbox: publish it now. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.idle;
    await this.lease?.release();
    await this.nc?.close().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.leased())) {
          await this.sleep(1000);
          continue;
        }
        await this.jetstream();
        const sent = await this.drainOnce();
        this.failures = 0;
        this.lastError = undefined;
        if (this.meta.outboxDepth() === 0) this.drainWaiters.splice(0).forEach((w) => w());
        if (sent === 0 && !this.dirty) await this.sleep(1000);
      } catch (err) {
        this.failures++;
        this.lastError = (err as Error).message;
        if (this.failures === 1) this.opts.log.warn('event publishing failed; events stay in the outbox', { err: this.lastError });
        const backoff = Math.min(this.opts.maxBackoffMs ?? 5000, 100 * 2 ** Math.min(this.failures, 10));
        await this.sleep(backoff * (0.5 + Math.random() / 2));
      }
    }
  }

  /** Whether this node holds the outbox lease, taking it when free. */
  private async leased(): Promise<boolean> {
    if (this.lease?.held) return true;
    if (this.lease) this.opts.log.warn('lost the outbox lease; another node of this region may publish now');
    this.lease = await this.meta.tryLease('outbox');
    if (this.lease) this.opts.log.info("publishing this region's outbox (lease taken)");
    return this.lease !== undefined;
  }

  /** Publish one batch; returns how many events went out. */
  private async drainOnce(): Promise<number> {
    this.dirty = false;
    const entries = await this.meta.readOutbox(this.opts.batch ?? 256);
    if (entries.length === 0) return 0;
    const js = await this.jetstream();
    const done: number[] = [];
    try {
      for (const e of entries) {
        const { id } = Event.decode(e.event);
        const h = e.repositorySeq === undefined ? undefined : headers();
        h?.set(REPOSITORY_SEQ_HEADER, String(e.repositorySeq));
        await js.publish(eventSubject(this.opts.region), e.event, { msgID: id, timeout: 5000, headers: h });
        done.push(e.seq);
      }
    } finally {
      await this.meta.deleteOutbox(done);
      this.published += done.length;
    }
    return done.length;
  }

  private async jetstream(): Promise<JetStreamClient> {
    if (this.js && this.nc && !this.nc.isClosed()) return this.js;
    // One connection, kept while the stream cannot be made (JetStream still electing its
    // leader, or off): a new one per retry would leak a connection per failure, each
    // holding the process open after stop().
    if (!this.nc || this.nc.isClosed()) this.nc = await this.connect();
    const nc = this.nc;
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    await ensureStream(jsm, this.opts.region, this.opts.limits, this.opts.log);
    this.jsm = jsm;
    this.js = nc.jetstream();
    this.readyResolve();
    this.opts.log.info('publishing events', {
      servers: this.opts.servers,
      stream: eventStream(this.opts.region),
      subject: eventSubject(this.opts.region),
    });
    return this.js;
  }

  private streamInfo(): Promise<StreamInfo> {
    if (!this.jsm) return Promise.reject(new Error('the event stream is not set up yet'));
    return this.jsm.streams.info(eventStream(this.opts.region));
  }

  private connect(): Promise<NatsConnection> {
    return connect({
      ...this.opts.auth,
      servers: this.opts.servers,
      name: `georeg-${this.opts.region}-publisher`,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 2000,
    });
  }

  /** Wait `ms`, or less if woken; not at all once stopping (stop() may have come while no sleep ran to wake). */
  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
