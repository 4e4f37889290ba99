import type { Logger } from './log.js';

/** What a node holds in memory of a store that other nodes write too, and how to tell it changed. */
export interface SharedState {
  name: string;
  /** Differs whenever the state in the store changed. */
  fingerprint(): Promise<string>;
  /** Read the state from the store again. */
  refresh(): Promise<void>;
}

/**
 * Keeps what a node holds in memory (locks, the trust policy, the drain state) in step with a
 * store the other nodes of its region write too (MetaStore.shared): each round, every state whose
 * fingerprint moved is read again. The fingerprint is taken before the read, so a change that
 * lands during the read moves it again and is read at the next round. Rounds do not overlap.
 */
export class SharedStateFollower {
  readonly #seen = new Map<string, string>();
  #running = false;

  constructor(
    private readonly states: SharedState[],
    private readonly log: Logger,
  ) {}

  async round(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (const s of this.states) {
        try {
          const f = await s.fingerprint();
          if (this.#seen.get(s.name) === f) continue;
          await s.refresh();
          this.#seen.set(s.name, f);
        } catch (err) {
          this.log.warn('cannot read shared state from the metadata store; trying again', { state: s.name, err: (err as Error).message });
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
