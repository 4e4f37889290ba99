import { DiscardPolicy, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import type { Logger } from '../log.js';

/**
 * Each region publishes into a stream of its own, GEOREG_EVENTS_<REGION>
 * (subject georeg.events.<region>), created from the region's own NATS server
 * and so placed in that region's cluster: with regions joined by gateways, peers
 * consume it across the gateway, and no region's events depend on another's.
 */
export const eventStream = (region: string): string => `GEOREG_EVENTS_${region.toUpperCase().replace(/-/g, '_')}`;
export const eventSubject = (region: string): string => `georeg.events.${region}`;
/**
 * The header of a published repository event carrying its OutboxEntry.repositorySeq: its place
 * among its repository's events from the region (a header, so the event's bytes and the releases
 * that do not read it are unchanged).
 */
export const REPOSITORY_SEQ_HEADER = 'Georeg-Repository-Seq';

/** How much of its events a region's stream keeps (`replication.streamMaxAgeSeconds`, `replication.streamMaxBytes`). */
export interface StreamLimits {
  /** Events older than this go. */
  maxAgeSeconds: number;
  /** The stream holds at most this many bytes, the oldest events going first (0: no bound but the age). */
  maxBytes: number;
}

/**
 * A republished event (its id as Nats-Msg-Id, after a crash between the ack and the outbox delete) is
 * dropped within this window. JetStream allows no window longer than the stream's max age, so a
 * shorter age shortens it: a duplicate that slips past is a replay, which changes nothing.
 */
const DUPLICATE_WINDOW_MS = 10 * 60 * 1000;

type LimitSettings = Pick<StreamConfig, 'max_age' | 'max_bytes' | 'discard' | 'duplicate_window'>;

/** The limits as JetStream's stream settings: the oldest events are discarded (a peer that needed them is repaired by anti-entropy). */
function settings(limits: StreamLimits): LimitSettings {
  const ageMs = limits.maxAgeSeconds * 1000;
  return {
    max_age: nanos(ageMs),
    max_bytes: limits.maxBytes === 0 ? -1 : limits.maxBytes,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, ageMs)),
  };
}

/** Settings as the log shows them (JetStream counts time in nanoseconds; 0 s or -1 bytes: no limit). */
function readable(s: LimitSettings): Record<string, number | string> {
  return {
    maxAgeSeconds: s.max_age / 1e9,
    maxBytes: s.max_bytes,
    discard: s.discard,
    duplicateWindowSeconds: s.duplicate_window / 1e9,
  };
}

/**
 * Create a region's event stream with `limits`; where it exists with other limits (a previous
 * release made it without any, or the config changed), update it in place and log what changed.
 */
export async function ensureStream(jsm: JetStreamManager, region: string, limits: StreamLimits, log: Logger): Promise<void> {
  const name = eventStream(region);
  const wanted = settings(limits);
  let held: StreamConfig;
  try {
    held = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add({ name, subjects: [eventSubject(region)], ...wanted });
    log.info('event stream created', { stream: name, ...readable(wanted) });
    return;
  }
  const [was, will] = [readable(held), readable(wanted)];
  const changed = Object.keys(will).filter((k) => was[k] !== will[k]);
  if (changed.length === 0) return;
  await jsm.streams.update(name, wanted);
  log.info('event stream limits updated', { stream: name, ...Object.fromEntries(changed.map((k) => [k, { from: was[k], to: will[k] }])) });
}
