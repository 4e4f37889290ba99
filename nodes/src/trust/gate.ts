import {
  bindingOf, BundleError, COSIGN_SIMPLESIGNING, evaluateDigest, evaluateTag, SIGNATURE_ARTIFACTS, SIGSTORE_BUNDLE_V03, TAG_BINDING_ARTIFACT,
  type CompiledPolicy, type Decision, type Trust,
} from 'georeg/trust';
import { oci } from '../oci/errors.js';
import { IndexTypes } from '../oci/media-types.js';
import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type { MetaStore, ManifestRecord } from '../meta/store.js';
import type { Logger } from '../log.js';
import { Lru } from '../lru.js';
import { KeyedLock } from '../keyed-lock.js';
import type { EvidenceReader } from './evidence.js';
import type { TrustPolicies } from './policies.js';

const DECISION_CACHE = 10_000;
const DIGEST_SIGNATURES = [SIGSTORE_BUNDLE_V03, TAG_BINDING_ARTIFACT];

/** A cached decision with the counter it adds to each time it is served. */
interface Decided {
  decision: Decision;
  tally: { n: number };
}

const LEGACY_SIGNATURE_TAG = /^sha256-[a-f0-9]{64}\.sig$/;

/** Signature artifacts stay readable in enforce mode: referrers of the known types, and cosign's legacy `.sig` manifests. */
function isSignature(ref: Reference, record: ManifestRecord, bytes: Buffer): boolean {
  if (record.artifactType !== undefined && SIGNATURE_ARTIFACTS.has(record.artifactType)) return true;
  if (ref.tag === undefined || !LEGACY_SIGNATURE_TAG.test(ref.tag)) return false;
  const layers = (JSON.parse(bytes.toString('utf8')) as { layers?: { mediaType?: string }[] }).layers ?? [];
  return layers.length > 0 && layers.every((l) => l.mediaType === COSIGN_SIMPLESIGNING);
}

function seqKey(repo: string, tag: string): string {
  return `trust/seq/${repo}:${tag}`;
}

/**
 * Decides, per repository policy, whether a manifest may be served, verifying
 * its signatures here at serve time (results cached by manifest, tag, highest
 * binding sequence, signature set and policy version), and tracks the highest
 * tag-binding sequence seen per tag as bindings arrive (pushed here or
 * replicated), so that an older binding reads as a rollback.
 */
export class TrustGate {
  readonly #decisions = new Lru<string, Decided>(DECISION_CACHE);
  /** Bumped whenever a referrer arrives or any manifest leaves: cached decisions then no longer apply. */
  #generation = 0;
  readonly #highest = new Map<string, number>();
  /** Policies by repository for #policyVersion (null: none applies); only repositories holding a manifest reach it. */
  readonly #policies = new Map<string, CompiledPolicy | null>();
  #policyVersion = '';
  readonly #locks = new KeyedLock();
  /** Counters of decisions served, by `<mode>/<result>`. */
  readonly #tallies = new Map<string, { n: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly policies: TrustPolicies,
    private readonly evidence: EvidenceReader,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Throws DENIED when the repository's policy enforces and refuses this
   * manifest; audit mode logs and serves. A cached decision is applied without
   * a promise (the pull path's common case); otherwise returns one to await.
   */
  check(repo: string, ref: Reference, record: ManifestRecord, bytes: Buffer): Promise<void> | undefined {
    const { version, trust } = this.policies.current;
    const policy = this.policyFor(version, trust, repo);
    if (!policy || policy.mode === 'off' || isSignature(ref, record, bytes)) return undefined;
    const highest = ref.tag === undefined ? 0 : this.#highest.get(seqKey(repo, ref.tag));
    if (highest !== undefined) {
      const hit = this.#decisions.get(this.decisionKey(version, repo, ref, record, highest));
      if (hit && hit.decision.validUntil > this.now()) return this.apply(policy, repo, ref, record, hit);
    }
    return this.decide(version, trust, policy, repo, ref, record);
  }

  private async decide(version: string, trust: Trust, policy: CompiledPolicy, repo: string, ref: Reference, record: ManifestRecord): Promise<void> {
    const highest = ref.tag === undefined ? 0 : await this.highestSeen(repo, ref.tag);
    const d = ref.tag === undefined ? await this.decideDigest(trust, policy, repo, record) : await this.decideTag(trust, policy, repo, ref.tag, record.digest, highest);
    const decided = { decision: d, tally: this.tally(`${policy.mode}/${d.result}`) };
    this.#decisions.set(this.decisionKey(version, repo, ref, record, highest), decided);
    this.apply(policy, repo, ref, record, decided);
  }

  private decisionKey(version: string, repo: string, ref: Reference, record: ManifestRecord, highest: number): string {
    return `${version}\0${this.#generation}\0${repo}\0${ref.tag ?? ''}\0${record.digest}\0${highest}`;
  }

  /** The policy of a repository, memoised per policy version (glob matching stays off the pull path). */
  private policyFor(version: string, trust: Trust, repo: string): CompiledPolicy | undefined {
    if (this.#policyVersion !== version) {
      this.#policies.clear();
      this.#policyVersion = version;
    }
    let p = this.#policies.get(repo);
    if (p === undefined) {
      p = trust.policyFor(repo) ?? null;
      this.#policies.set(repo, p);
    }
    return p ?? undefined;
  }

  /** Decisions served, by `<mode>/<result>`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#tallies].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, t]) => [k, t.n]));
  }

  private tally(key: string): { n: number } {
    let t = this.#tallies.get(key);
    if (!t) this.#tallies.set(key, (t = { n: 0 }));
    return t;
  }

  private apply(policy: CompiledPolicy, repo: string, ref: Reference, record: ManifestRecord, { decision: d, tally }: Decided): undefined {
    tally.n++;
    if (d.allowed) return undefined;
    const what = ref.tag === undefined ? `${repo}@${record.digest}` : `${repo}:${ref.tag}`;
    if (policy.mode === 'audit') {
      this.log.warn('trust audit: would deny', { repository: repo, reference: ref.tag ?? record.digest, reason: d.result, detail: d.message });
      return undefined;
    }
    throw oci('DENIED', `${what} is not trusted (${d.result}): ${d.message}`, { reason: d.result });
  }

  /** A manifest was linked here (pushed or replicated): cached decisions go, and a valid tag binding raises its tag's sequence. */
  async ingested(repo: string, record: ManifestRecord): Promise<void> {
    if (record.subject === undefined) return;
    this.#generation++;
    if (record.artifactType !== TAG_BINDING_ARTIFACT) return;
    const { trust } = this.policies.current;
    const policy = trust.policyFor(repo);
    const e = await this.evidence.verify(trust, record.digest);
    if (e instanceof BundleError) {
      this.log.info('tag binding not counted', { repository: repo, binding: record.digest, reason: e.problem, detail: e.message });
      return;
    }
    let b;
    try {
      b = bindingOf(e.statement, e.digest);
    } catch (err) {
      this.log.info('tag binding not counted', { repository: repo, binding: record.digest, detail: (err as Error).message });
      return;
    }
    const key = trust.keysById.get(e.keyId);
    const trusted = key && !key.revoked && policy?.keys.has(key.name);
    if (!trusted || b.repository !== repo || b.digest !== record.subject || (trust.identity !== undefined && b.registry !== trust.identity)) {
      this.log.info('tag binding not counted', { repository: repo, binding: record.digest, detail: 'not a binding of this repository by a trusted key' });
      return;
    }
    await this.raise(repo, b.tag, b.sequence);
  }

  /** A manifest left a repository: it may have been a signature. */
  removed(): void {
    this.#generation++;
  }

  /** The highest binding sequence seen for a tag (0: none). */
  async highestSeen(repo: string, tag: string): Promise<number> {
    const k = seqKey(repo, tag);
    let h = this.#highest.get(k);
    if (h === undefined) {
      h = Number((await this.meta.getSetting(k)) ?? 0);
      this.#highest.set(k, h);
    }
    return h;
  }

  private async raise(repo: string, tag: string, sequence: number): Promise<void> {
    const k = seqKey(repo, tag);
    await this.#locks.run(k, async () => {
      if (sequence <= (await this.highestSeen(repo, tag))) return;
      await this.meta.putSetting(k, String(sequence));
      this.#highest.set(k, sequence);
    });
  }

  private async decideTag(trust: Trust, policy: CompiledPolicy, repo: string, tag: string, digest: Digest, highest: number): Promise<Decision> {
    const evidence = await this.evidence.read(trust, repo, digest, [TAG_BINDING_ARTIFACT]);
    return evaluateTag(trust, policy, { repository: repo, tag, digest }, evidence, highest, this.now());
  }

  /** By digest: the manifest's own signatures, else those of an index in the repository that lists it. */
  private async decideDigest(trust: Trust, policy: CompiledPolicy, repo: string, record: ManifestRecord): Promise<Decision> {
    const own = evaluateDigest(trust, policy, repo, record.digest, await this.evidence.read(trust, repo, record.digest, DIGEST_SIGNATURES), this.now());
    if (own.allowed || IndexTypes.has(record.mediaType)) return own;
    for await (const parent of this.meta.listManifests(repo)) {
      if (!IndexTypes.has(parent.mediaType) || !parent.references.includes(record.digest)) continue;
      const d = evaluateDigest(trust, policy, repo, parent.digest, await this.evidence.read(trust, repo, parent.digest, DIGEST_SIGNATURES), this.now());
      if (d.allowed) return { ...d, message: `listed by signed index ${parent.digest} (${d.message})` };
    }
    return own;
  }
}
