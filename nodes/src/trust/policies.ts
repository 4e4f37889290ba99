import { createHash } from 'node:crypto';
import { compileTrust, PolicyError, type Trust, type TrustDocument } from 'georeg/trust';
import { oci } from 'georeg/oci';
import type { MetaStore, RecordStore } from '../meta/store.js';
import { compareHlc, type HlcTimestamp, type HybridClock } from '../hlc.js';
import { LastWriterWins, type Clocked } from '../events/last-writer-wins.js';
import type { EventRecorder } from '../events/recorder.js';
import { silentLogger, type Logger } from '../log.js';

/** The keys of the policies store: the document, and the hash of the seed file last applied. */
const DOCUMENT = 'document';
const SEED = 'seed';

/** The document, stamped with when it was set and by which region: also its version. */
type StoredPolicy = Clocked<{ document: TrustDocument }>;

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
  /** The stored document, the newest change winning; one change at a time. */
  readonly #lww: LastWriterWins;
  readonly #records: RecordStore<unknown>;

  constructor(
    meta: MetaStore,
    private readonly hlc: HybridClock,
    private readonly events?: EventRecorder,
    private readonly log: Logger = silentLogger,
  ) {
    this.#records = meta.records('policies');
    this.#lww = new LastWriterWins(this.#records, hlc);
  }

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
    const stored = (await this.#records.get(DOCUMENT)) as StoredPolicy | undefined;
    if (stored) this.#use(stored);
    if (!seed) return;
    const sha256 = createHash('sha256').update(seed.text).digest('hex');
    if (((await this.#records.get(SEED)) as { sha256: string } | undefined)?.sha256 === sha256) return;
    let doc: unknown;
    try {
      doc = JSON.parse(seed.text);
    } catch (e) {
      throw new PolicyError(`${seed.source}: not JSON: ${(e as Error).message}`);
    }
    await this.set(doc, stored ? undefined : { wallMs: 0, logical: 0, region: this.hlc.region });
    await this.#records.put(SEED, { sha256 });
  }

  /** Replace the document; one that does not validate is refused with POLICY_INVALID. Returns the new version. */
  async set(input: unknown, at?: HlcTimestamp): Promise<PolicyVersion> {
    let trust: Trust;
    try {
      trust = compileTrust(input);
    } catch (e) {
      if (e instanceof PolicyError) throw oci('POLICY_INVALID', e.message);
      throw e;
    }
    const events = this.events;
    let version = this.#current;
    await this.#lww.write(DOCUMENT, () => ({ document: trust.document }), at, {
      events: events && ((_json, clock) => [events.policyPut(JSON.stringify(trust.document), clock)]),
      stored: (stored) => {
        version = this.#use(stored, trust);
      },
    });
    events?.committed();
    return version;
  }

  /**
   * A document from another region: kept when newer than the one held. One
   * that does not parse or validate is logged and dropped (the one held stays),
   * so it cannot stall replication from that region. Returns whether it was kept.
   */
  async applyReplicated(json: string, at: HlcTimestamp): Promise<boolean> {
    let trust: Trust;
    try {
      trust = compileTrust(JSON.parse(json));
    } catch (e) {
      this.log.error('replicated trust policy refused; keeping the current one', { version: versionOf(at), err: (e as Error).message });
      return false;
    }
    const applied = await this.#lww.apply(DOCUMENT, { document: trust.document }, at, { stored: (stored) => this.#use(stored, trust) });
    if (applied === 'ahead')
      this.log.error('replicated trust policy stamped too far ahead; keeping the current one', { version: versionOf(at) });
    return applied === 'stored';
  }

  /** Read the stored document again (another node sharing the store may have changed it). */
  async refresh(): Promise<void> {
    const stored = (await this.#records.get(DOCUMENT)) as StoredPolicy | undefined;
    if (stored && (!this.#clock || compareHlc(stored.clock, this.#clock) !== 0)) this.#use(stored);
  }

  #use(stored: StoredPolicy, trust: Trust = compileTrust(stored.document)): PolicyVersion {
    this.#clock = stored.clock;
    this.#current = { version: versionOf(stored.clock), trust };
    return this.#current;
  }
}
