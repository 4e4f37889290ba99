import { evaluateDigest, evaluateTag, SIGNATURE_ARTIFACTS, type CompiledPolicy, type Decision, type Trust } from 'georeg/trust';
import { ImageTypes, IndexTypes, MediaTypes, oci, parseManifest, type ParsedManifest, type Reference } from 'georeg/oci';
import type { ManifestRecord } from '../meta/store.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../log.js';
import { Lru } from '../lru.js';
import type { EvidenceReader } from './evidence.js';
import type { TrustPolicies } from './policies.js';
import type { SequenceState, TagBindings } from './bindings.js';

const DECISION_CACHE = 10_000;
const DIGEST_SIGNATURES = [MediaTypes.sigstoreBundle, MediaTypes.tagBinding];
const LEGACY_SIGNATURE_TAG = /^sha256-[a-f0-9]{64}\.sig$/;
/** Layer media types of signature artifacts: none of them is a file system a runtime could run. */
const SIGNATURE_LAYERS: ReadonlySet<string> = new Set([
  MediaTypes.sigstoreBundle,
  MediaTypes.cosignSimpleSigning,
  MediaTypes.jose,
  MediaTypes.cose,
]);

/** A cached decision with the counter it adds to each time it is served. */
interface Decided {
  decision: Decision;
  tally: { n: number };
}

/**
 * Signature artifacts stay readable in enforce mode, recognised by their shape,
 * not by what they call themselves: an image manifest (never an index) whose
 * every layer is a signature, with an empty config and a subject for referrers,
 * or under cosign's legacy `sha256-<hex>.sig` tag. Nothing of that shape runs.
 * A manifest with keys in other letter case (see ParsedManifest.caseVariantKeys) is never one.
 */
function isSignature(
  ref: Reference,
  claims: { mediaType: string; artifactType?: string; subject?: unknown },
  manifest: () => ParsedManifest,
): boolean {
  const referrer = claims.artifactType !== undefined && SIGNATURE_ARTIFACTS.has(claims.artifactType) && claims.subject !== undefined;
  const legacy = ref.tag !== undefined && LEGACY_SIGNATURE_TAG.test(ref.tag);
  if (!(referrer || legacy) || !ImageTypes.has(claims.mediaType)) return false;
  const m = manifest();
  if (m.caseVariantKeys) return false;
  if (m.layers.length === 0 || !m.layers.every((l) => SIGNATURE_LAYERS.has(l.mediaType))) return false;
  return legacy || m.config?.mediaType === MediaTypes.ociEmpty;
}

/** A push that adds a signature and nothing else (the `sign` action): a signature artifact by digest, or under its legacy `.sig` tag, never another tag. */
export function isSignaturePush(ref: Reference, m: ParsedManifest): boolean {
  return (ref.tag === undefined || LEGACY_SIGNATURE_TAG.test(ref.tag)) && isSignature(ref, m, () => m);
}

/**
 * Decides, per repository policy, whether a manifest may be served, verifying
 * its signatures here at serve time. Decisions are cached by policy version,
 * the repository's signature generation (bumped by every referrer or binding
 * that arrives and every manifest that leaves), tag and digest, and recomputed
 * when a key's validity window opens or closes.
 */
export class TrustGate {
  readonly #decisions = new Lru<string, Decided>(DECISION_CACHE);
  /** Per repository: bumped whenever a referrer arrives or a manifest leaves it. */
  readonly #generations = new Map<string, number>();
  /** Policies by repository for #policyVersion (null: none applies); only repositories holding a manifest reach it. */
  readonly #policies = new Map<string, CompiledPolicy | null>();
  #policyVersion = '';
  /** Counters of decisions served, by `<mode>/<result>`. */
  readonly #tallies = new Map<string, { n: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly policies: TrustPolicies,
    private readonly evidence: EvidenceReader,
    private readonly bindings: TagBindings,
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
    if (!policy || policy.mode === 'off' || isSignature(ref, record, () => parseManifest(bytes, record.mediaType))) return undefined;
    // The key is taken before anything is read, so a change meanwhile makes the result land under a stale key.
    const key = `${version}\0${this.#generations.get(repo) ?? 0}\0${repo}\0${ref.tag ?? ''}\0${record.digest}`;
    const hit = this.#decisions.get(key);
    if (hit && hit.decision.validUntil > this.now()) return this.apply(policy, repo, ref, record, hit);
    return this.decide(key, version, trust, policy, repo, ref, record);
  }

  /**
   * A manifest is about to be linked here (pushed or replicated): a tag binding's sequence is
   * remembered first. Linked first, a crash between the two would leave a binding nothing
   * remembers (a redelivered event finds the manifest present and skips it), and a rollback past
   * it would be served. A binding whose link then fails is still a signed statement: remembering
   * it refuses only what its signer superseded.
   */
  async linking(repo: string, record: ManifestRecord): Promise<void> {
    if (record.subject === undefined || record.artifactType !== MediaTypes.tagBinding) return;
    let why: string | undefined;
    try {
      why = await this.bindings.record(this.policies.current.trust, repo, record.digest, record.subject);
    } finally {
      // Once the binding's sequence is remembered: a pull decided while it was being written read
      // the old highest sequence, and must not be served from the cache after it.
      this.bump(repo);
    }
    if (why) this.log.info('tag binding not counted', { repository: repo, binding: record.digest, detail: why });
  }

  /** A manifest was linked into or left a repository: if it was a signature, cached decisions there are stale. */
  changed(repo: string, record?: ManifestRecord): void {
    if (record === undefined || record.subject !== undefined) this.bump(repo);
  }

  /** What a signer needs to number a binding: the sequences reached for a tag, under the repository's policy. */
  async tagState(repo: string, tag: string): Promise<{ highestSequence: number; sequences: SequenceState[] }> {
    const { version, trust } = this.policies.current;
    const policy = trust.policyFor(repo);
    if (!policy || policy.mode === 'off') return { highestSequence: 0, sequences: [] };
    const sequences = await this.bindings.sequences(trust, version, policy, repo, tag);
    return { highestSequence: sequences.find((g) => g.keys.length >= policy.threshold)?.sequence ?? 0, sequences: sequences.slice(0, 8) };
  }

  /** Decisions served, by `<mode>/<result>`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#tallies].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, t]) => [k, t.n]));
  }

  private bump(repo: string): void {
    this.#generations.set(repo, (this.#generations.get(repo) ?? 0) + 1);
  }

  private async decide(
    key: string,
    version: string,
    trust: Trust,
    policy: CompiledPolicy,
    repo: string,
    ref: Reference,
    record: ManifestRecord,
  ): Promise<void> {
    const d =
      ref.tag === undefined
        ? await this.decideDigest(trust, version, policy, repo, record)
        : await this.decideTag(trust, version, policy, repo, ref.tag, record);
    const decided = { decision: d, tally: this.tally(`${policy.mode}/${d.result}`) };
    this.#decisions.set(key, decided);
    this.apply(policy, repo, ref, record, decided);
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
      this.log.warn('trust audit: would deny', {
        repository: repo,
        reference: ref.tag ?? record.digest,
        reason: d.result,
        detail: d.message,
      });
      return undefined;
    }
    throw oci('DENIED', `${what} is not trusted (${d.result}): ${d.message}`, { reason: d.result });
  }

  private async decideTag(
    trust: Trust,
    version: string,
    policy: CompiledPolicy,
    repo: string,
    tag: string,
    record: ManifestRecord,
  ): Promise<Decision> {
    const [highest, evidence] = await Promise.all([
      this.bindings.highest(trust, version, policy, repo, tag),
      this.evidence.read(trust, version, repo, record.digest, [MediaTypes.tagBinding]),
    ]);
    return evaluateTag(trust, policy, { repository: repo, tag, digest: record.digest }, evidence, highest, this.now());
  }

  /** By digest: the manifest's own signatures, else those of an index in the repository that lists it. */
  private async decideDigest(
    trust: Trust,
    version: string,
    policy: CompiledPolicy,
    repo: string,
    record: ManifestRecord,
  ): Promise<Decision> {
    const signed = async (digest: ManifestRecord['digest']): Promise<Decision> =>
      evaluateDigest(trust, policy, repo, digest, await this.evidence.read(trust, version, repo, digest, DIGEST_SIGNATURES), this.now());
    const own = await signed(record.digest);
    if (own.allowed || IndexTypes.has(record.mediaType)) return own;
    for await (const parent of this.meta.listManifests(repo)) {
      if (!IndexTypes.has(parent.mediaType) || !parent.references.includes(record.digest)) continue;
      const d = await signed(parent.digest);
      if (d.allowed) return { ...d, message: `listed by signed index ${parent.digest} (${d.message})` };
    }
    return own;
  }
}
