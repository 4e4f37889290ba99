import { createHash } from 'node:crypto';
import { compileTrust, PolicyError, type Trust, type TrustDocument } from 'georeg/trust';
import { oci } from '../oci/errors.js';
import type { MetaStore } from '../meta/store.js';
import { compareHlc, type HlcTimestamp, type HybridClock } from '../events/hlc.js';
import type { EventRecorder } from '../events/recorder.js';
import { silentLogger, type Logger } from '../log.js';
import { MAX_SKEW_MS } from '../auth/identities.js';

const POLICY_KEY = 'trust/policy';
const SEED_KEY = 'trust/policy-seed';

interface StoredPolicy {
  /** When the document was set, by which region: also its version. */
  clock: HlcTimestamp;
  document: TrustDocument;
}

export interface PolicyVersion {
  /** `<wall ms>.<logical>@<region>`: changes with every new document. */
  version: string;
  trust: Trust;
}

const EMPTY: PolicyVersion = { version: '0', trust: compileTrust({ keys: [], policies: [] }) };

function versionOf(clock: HlcTimestamp): string {
  return `${clock.wallMs}.${clock.logical}@${clock.region}`;
}

/**
 * The registry's trust policy document: one per registry, versioned by hybrid
 * logical clock. A change made here (admin API, config file) is stored with its
 * POLICY_PUT event in one write; a change from another region applies only
 * when it is newer than the one held, so every region settles on the same
 * document.
 */
export class TrustPolicies {
  #current: PolicyVersion = EMPTY;
  #clock?: HlcTimestamp;
  /** Changes apply one at a time, so a clock comparison still holds when the write lands. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly meta: MetaStore,
    private readonly hlc: HybridClock,
    private readonly events?: EventRecorder,
    private readonly log: Logger = silentLogger,
  ) {}

  get current(): PolicyVersion {
    return this.#current;
  }

  /** The document held and its clock, as peers compare them (undefined: never set). */
  held(): { document: string; clock: HlcTimestamp } | undefined {
    return this.#clock && { document: JSON.stringify(this.#current.trust.document), clock: this.#clock };
  }

  /**
   * Load the stored document; then apply `seed` (a config file's document)
   * when it changed since it was last applied. A node that holds no document
   * yet (new, or rebuilt) seeds at the oldest possible clock, so the document
   * the other regions hold, which replication brings, wins over the file.
   */
  async load(seed?: { text: string; source: string }): Promise<void> {
    const raw = await this.meta.getSetting(POLICY_KEY);
    if (raw) this.#use(JSON.parse(raw) as StoredPolicy);
    if (!seed) return;
    const hash = createHash('sha256').update(seed.text).digest('hex');
    if ((await this.meta.getSetting(SEED_KEY)) === hash) return;
    let doc: unknown;
    try {
      doc = JSON.parse(seed.text);
    } catch (e) {
      throw new PolicyError(`${seed.source}: not JSON: ${(e as Error).message}`);
    }
    await this.set(doc, raw ? undefined : { wallMs: 0, logical: 0, region: this.hlc.region });
    await this.meta.putSetting(SEED_KEY, hash);
  }

  /** Replace the document; one that does not validate is refused with POLICY_INVALID. Returns the new version. */
  set(input: unknown, at?: HlcTimestamp): Promise<PolicyVersion> {
    let trust: Trust;
    try {
      trust = compileTrust(input);
    } catch (e) {
      if (e instanceof PolicyError) throw oci('POLICY_INVALID', e.message);
      throw e;
    }
    return this.#serial(async () => {
      // Later than the document held, whatever this region's clock said.
      if (this.#clock) this.hlc.observe(this.#clock);
      const stored: StoredPolicy = { clock: at ?? this.hlc.now(), document: trust.document };
      const json = JSON.stringify(stored.document);
      await this.meta.putSetting(POLICY_KEY, JSON.stringify(stored), { events: this.events && [this.events.policyPut(json, stored.clock)] });
      this.events?.committed();
      return this.#use(stored, trust);
    });
  }

  /**
   * A document from another region: kept when newer than the one held. One
   * that does not parse or validate is logged and dropped (the one held stays),
   * so it cannot stall replication from that region. Returns whether it was kept.
   */
  applyReplicated(json: string, at: HlcTimestamp): Promise<boolean> {
    return this.#serial(async () => {
      // A clock far ahead of ours would make the document outlive every later change: refused.
      if (at.wallMs > Date.now() + MAX_SKEW_MS) {
        this.log.error('replicated trust policy stamped too far ahead; keeping the current one', { version: versionOf(at) });
        return false;
      }
      this.hlc.observe(at);
      if (this.#clock && compareHlc(at, this.#clock) <= 0) return false;
      let stored: StoredPolicy;
      let trust: Trust;
      try {
        stored = { clock: at, document: JSON.parse(json) as TrustDocument };
        trust = compileTrust(stored.document);
      } catch (e) {
        this.log.error('replicated trust policy refused; keeping the current one', { version: versionOf(at), err: (e as Error).message });
        return false;
      }
      await this.meta.putSetting(POLICY_KEY, JSON.stringify(stored));
      this.#use(stored, trust);
      return true;
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #use(stored: StoredPolicy, trust: Trust = compileTrust(stored.document)): PolicyVersion {
    this.#clock = stored.clock;
    this.#current = { version: versionOf(stored.clock), trust };
    return this.#current;
  }
}
