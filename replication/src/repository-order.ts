import type { JsMsg, MsgHdrs } from 'nats';
import { REPOSITORY_SEQ_HEADER, type Logger } from 'georeg/nodes';
import type { Event } from 'georeg/proto';
import type { Positions } from './region-store.js';

/** First wait of an event sent back for its predecessor; each next wait doubles, up to the longest. */
const FIRST_WAIT_MS = 25;
const LONGEST_WAIT_MS = 1000;
/**
 * Deliveries after which an event applies whatever its place while JetStream's acknowledgement
 * floor cannot be had (about two minutes of waits). While it can, an event waits as long as the
 * floor says an earlier one is in flight: that one may be a long copy.
 */
const MOST_DELIVERIES = 130;
/**
 * Deliveries an event waits (about 3.6 s) for a predecessor in a repository the region holds no
 * position of: a new one, whose first events may be in flight on another node, or one whose
 * earlier events applied before positions were kept (a region that joined, or upgraded, late),
 * which no wait brings back.
 */
const UNKNOWN_DELIVERIES = 8;
/** How long a region store that keeps no positions is taken at its word before it is asked again (its node may be upgraded meanwhile). */
const NOT_KEPT_MS = 60_000;

/** The place of a repository event among its repository's events at its origin, from its message's headers (REPOSITORY_SEQ_HEADER). */
export function repositorySeq(headers: MsgHdrs | undefined): number | undefined {
  const value = headers?.get(REPOSITORY_SEQ_HEADER);
  const seq = value ? Number(value) : NaN;
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

/**
 * Applies each repository's events in the order its origin wrote them, across the nodes of a region
 * that share a peer's consumer (JetStream hands each event to one of them; within one node, lanes
 * keep the order). A repository event carries its place among the repository's events; the region
 * keeps, per peer and repository, the last place applied (AppliedPositions, in the shared store).
 * An event applies when it is the next one, or when every event before it in the peer's stream is
 * acknowledged: its predecessor is then applied or will never come (written by a release that did not
 * number events, or gone from the stream). Otherwise it goes back to JetStream for a moment (a
 * delayed nak), freeing its lane, while its predecessor applies on another node. The oldest
 * unacknowledged event always applies, so every wait ends. Where the region holds no position of
 * the repository yet, the wait is short (UNKNOWN_DELIVERIES): its predecessor may have applied
 * before positions were kept, and an unrelated long copy can hold the floor. Unnumbered events (from
 * a region of an earlier release, or written before its upgrade) apply as they come.
 */
export class RepositoryOrder {
  /** Until when the region store is taken to keep no positions (it answered so). */
  #notKeptUntil = 0;

  constructor(
    private readonly positions: Positions | undefined,
    /** The highest stream sequence up to which the peer's consumer has every event acknowledged. */
    private readonly ackFloor: (peer: string) => Promise<number | undefined>,
    private readonly log: Logger,
  ) {}

  /** How long `m` must wait for an earlier event of its repository (undefined: apply it now). */
  async wait(peer: string, m: JsMsg, event: Event): Promise<number | undefined> {
    const ordered = this.#ordered(m, event);
    if (!ordered) return undefined;
    const { positions, seq } = ordered;
    const held = await positions.get(peer, event.repository);
    if (held === null) {
      this.#notKeptUntil = Date.now() + NOT_KEPT_MS; // one process applies the region's events: its lanes keep the order
      return undefined;
    }
    if (held >= seq - 1) return undefined; // the next one, or a late or repeated one (applying again is safe)
    const floor = await this.ackFloor(peer);
    if (floor !== undefined && floor >= m.seq - 1) return undefined;
    const deliveries = m.info.redeliveryCount;
    const most = held === 0 ? UNKNOWN_DELIVERIES : floor === undefined ? MOST_DELIVERIES : Infinity;
    if (deliveries >= most) {
      this.log.warn('event applied before an earlier one of its repository, which did not come', {
        from: peer,
        repository: event.repository,
        seq,
        applied: held,
        event: event.id,
      });
      return undefined;
    }
    return Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(deliveries - 1, 10));
  }

  /**
   * Record `m` as applied (or set aside for good), before it is acknowledged. A failure to record is
   * logged, not thrown: once `m` is acknowledged the acknowledgement floor lets the next one go.
   */
  async done(peer: string, m: JsMsg, event: Event): Promise<void> {
    const ordered = this.#ordered(m, event);
    if (!ordered) return;
    const { positions, seq } = ordered;
    await positions.advance(peer, event.repository, seq).catch((err: unknown) => {
      this.log.warn('could not record how far a repository is replicated', { from: peer, repository: event.repository, seq, err });
    });
  }

  /** The positions and `m`'s place, when it is ordered here: a numbered repository event, in a region that keeps positions (as far as it last said). */
  #ordered(m: JsMsg, event: Event): { positions: Positions; seq: number } | undefined {
    const seq = repositorySeq(m.headers);
    if (!this.positions || !event.repository || seq === undefined || Date.now() < this.#notKeptUntil) return undefined;
    return { positions: this.positions, seq };
  }
}
