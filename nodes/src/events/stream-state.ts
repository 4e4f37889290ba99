import type { StreamInfo } from 'nats';

/** This region's event stream as JetStream last described it (the `stream` of GET /georeg/v1/replication). */
export interface EventStreamState {
  name: string;
  /** Events the stream holds, and their bytes. */
  messages: number;
  bytes: number;
  /** Sequence of the oldest event held and of the last one published (firstSeq past lastSeq: none held). */
  firstSeq: number;
  lastSeq: number;
  /** When the oldest event held was stored (ISO 8601); absent while none is. */
  oldest?: string;
  /** Why the last read failed: the numbers are those of the read before (0 before any). */
  error?: string;
}

/** JetStream is asked at most this often. */
const REFRESH_MS = 5000;
/** How long an answer waits for fresh numbers before it gives the last ones (the read goes on, for the next answer). */
const WAIT_MS = 300;

/**
 * The numbers of this region's event stream for status and metrics: read from JetStream at most
 * every `refreshMs` (REFRESH_MS), one read at a time, and never waited on for more than WAIT_MS, so a slow or
 * absent NATS never holds a status answer or a scrape.
 */
export class StreamState {
  #state: EventStreamState;
  #readAt = -Infinity;
  #reading?: Promise<void>;

  constructor(
    name: string,
    private readonly info: () => Promise<StreamInfo>,
    private readonly refreshMs = REFRESH_MS,
  ) {
    this.#state = { name, messages: 0, bytes: 0, firstSeq: 0, lastSeq: 0, error: 'not read yet' };
  }

  async read(): Promise<EventStreamState> {
    if (!this.#reading && Date.now() - this.#readAt >= this.refreshMs) {
      this.#reading = this.#query().finally(() => {
        this.#readAt = Date.now();
        this.#reading = undefined;
      });
    }
    if (this.#reading) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#reading, new Promise((resolve) => (timer = setTimeout(resolve, WAIT_MS)))]);
      clearTimeout(timer);
    }
    return { ...this.#state };
  }

  async #query(): Promise<void> {
    try {
      const { state } = await this.info();
      this.#state = {
        name: this.#state.name,
        messages: state.messages,
        bytes: state.bytes,
        firstSeq: state.first_seq,
        lastSeq: state.last_seq,
        ...(state.messages > 0 && { oldest: new Date(Date.parse(state.first_ts)).toISOString() }),
      };
    } catch (err) {
      this.#state = { ...this.#state, error: (err as Error).message };
    }
  }
}
