import { BundleError, bindingOf, checkKey, isProblem, parseStatement, verifyBundle, type CompiledPolicy, type Trust } from 'georeg/trust';
import type { MetaStore, RecordStore } from '../meta/store.js';
import type { Digest } from 'georeg/oci';
import { KeyedLock } from '../keyed-lock.js';
import { Lru } from '../lru.js';
import type { EvidenceReader } from './evidence.js';

/** One tag binding seen here: who signed which digest at which sequence; `verified` once its signature checked out. */
interface SeenBinding {
  sequence: number;
  digest: string;
  keyId: string;
  /** The registry the binding names (absent in records written before it was kept: counted as this one). */
  registry?: string;
  /** The binding's manifest, to verify it later when its key was unknown on arrival. */
  manifest: string;
  verified: boolean;
}

/** Verified bindings kept per tag (the highest sequences), and unverified claims (the latest): claims never push out verified bindings. */
const KEPT = 64;
const CLAIMS_KEPT = 16;
/** A sequence further ahead than this (in ms, the unit `georeg sign` uses) is refused: it could lock a tag. */
const MAX_AHEAD_MS = 366 * 24 * 3600 * 1000;
const LOADED = 10_000;

/** A binding sequence reached by `threshold` distinct trusted, currently valid keys for one digest. */
export interface SequenceState {
  sequence: number;
  digest: string;
  keys: string[];
}

const recordKey = (repo: string, tag: string): string => `${repo}:${tag}`;

/**
 * Every tag binding of a repository this node has seen, per tag, kept after
 * the binding's manifest or image is deleted: the memory that makes an older
 * binding a rollback. A binding counts toward the tag's highest sequence only
 * while its key is trusted for the repository and valid, and only once
 * `threshold` keys reached that sequence for one digest; so revoking a key
 * undoes what it raised, and one key of a 2-of-N policy cannot lock a tag.
 * A binding whose key is not (yet) in the trust document is kept as a claim
 * and verified when the key appears.
 */
export class TagBindings {
  readonly #loaded = new Lru<string, SeenBinding[]>(LOADED);
  readonly #locks = new KeyedLock();
  /** What this node has seen, per tag. */
  readonly #records: RecordStore<SeenBinding[]>;

  constructor(
    meta: MetaStore,
    private readonly evidence: EvidenceReader,
    private readonly now: () => number = Date.now,
  ) {
    this.#records = meta.records('bindings');
  }

  /** A binding manifest was linked into `repo` with subject `subject`: remember what it claims, verified if its key is known. */
  async record(trust: Trust, repo: string, manifest: Digest, subject: Digest): Promise<string | undefined> {
    let bundle: Buffer;
    let claim;
    try {
      bundle = await this.evidence.bundleOf(manifest);
      const envelope = JSON.parse(bundle.toString('utf8')) as {
        dsseEnvelope?: { payload?: string };
        verificationMaterial?: { publicKey?: { hint?: string } };
      };
      const { statement, digest } = parseStatement(Buffer.from(envelope.dsseEnvelope?.payload ?? '', 'base64'));
      claim = { binding: bindingOf(statement, digest), keyId: envelope.verificationMaterial?.publicKey?.hint ?? '' };
    } catch (e) {
      return `not a tag binding: ${(e as Error).message}`;
    }
    const b = claim.binding;
    if (b.repository !== repo || b.digest !== subject) return `binding names ${b.repository}@${b.digest}, not this repository and subject`;
    if (b.sequence > this.now() + MAX_AHEAD_MS) return `sequence ${b.sequence} is implausibly far ahead`;
    let verified = false;
    try {
      verified = verifyBundle(bundle, trust.publicKeys).keyId === claim.keyId;
    } catch (e) {
      if (!(e instanceof BundleError && e.problem === 'untrusted-key')) return e instanceof Error ? e.message : String(e);
    }
    await this.update(repo, b.tag, (seen) => {
      if (seen.some((s) => s.manifest === manifest)) return false;
      seen.push({ sequence: b.sequence, digest: b.digest, keyId: claim.keyId, registry: b.registry, manifest, verified });
      return true;
    });
    return undefined;
  }

  /** Sequences reached for a tag, highest first: each with the trusted, valid keys that signed it. */
  async sequences(trust: Trust, version: string, policy: CompiledPolicy, repo: string, tag: string): Promise<SequenceState[]> {
    await this.verifyClaims(trust, version, repo, tag);
    const now = this.now();
    const groups = new Map<string, SequenceState>();
    for (const s of await this.load(repo, tag)) {
      // A binding for another registry (a staging one sharing the key) says nothing of this one's tag.
      if (trust.identity !== undefined && s.registry !== undefined && s.registry !== trust.identity) continue;
      const key = s.verified ? checkKey(trust, policy, s.keyId, now) : undefined;
      if (!key || isProblem(key)) continue;
      const id = `${s.sequence}@${s.digest}`;
      const g = groups.get(id) ?? { sequence: s.sequence, digest: s.digest, keys: [] };
      if (!g.keys.includes(key.name)) g.keys.push(key.name);
      groups.set(id, g);
    }
    return [...groups.values()].sort((a, b) => b.sequence - a.sequence);
  }

  /** The highest sequence `threshold` trusted, valid keys reached for one digest of the tag (0: none). */
  async highest(trust: Trust, version: string, policy: CompiledPolicy, repo: string, tag: string): Promise<number> {
    return (await this.sequences(trust, version, policy, repo, tag)).find((g) => g.keys.length >= policy.threshold)?.sequence ?? 0;
  }

  /** Verify claims whose key the trust document now lists; drop those that fail or whose manifest is gone. */
  private async verifyClaims(trust: Trust, version: string, repo: string, tag: string): Promise<void> {
    const pending = (await this.load(repo, tag)).filter((s) => !s.verified && trust.publicKeys.has(s.keyId));
    if (pending.length === 0) return;
    const outcome = new Map<string, boolean>();
    for (const s of pending) {
      const e = await this.evidence.verify(trust, version, s.manifest as Digest).catch(() => undefined);
      outcome.set(s.manifest, e !== undefined && !(e instanceof BundleError) && e.keyId === s.keyId);
    }
    await this.update(repo, tag, (seen) => {
      const before = seen.length;
      for (const s of seen) if (outcome.get(s.manifest) === true) s.verified = true;
      const kept = seen.filter((s) => outcome.get(s.manifest) !== false);
      seen.splice(0, seen.length, ...kept);
      return kept.length !== before || outcome.size > 0;
    });
  }

  private async load(repo: string, tag: string): Promise<SeenBinding[]> {
    const k = recordKey(repo, tag);
    let seen = this.#loaded.get(k);
    if (!seen) {
      seen = (await this.#records.get(k)) ?? [];
      this.#loaded.set(k, seen);
    }
    return seen;
  }

  private async update(repo: string, tag: string, change: (seen: SeenBinding[]) => boolean): Promise<void> {
    const k = recordKey(repo, tag);
    await this.#locks.run(k, async () => {
      const seen = (await this.load(repo, tag)).map((s) => ({ ...s }));
      if (!change(seen)) return;
      const verified = seen.filter((s) => s.verified).sort((a, b) => b.sequence - a.sequence);
      const kept = [...verified.slice(0, KEPT), ...seen.filter((s) => !s.verified).slice(-CLAIMS_KEPT)];
      await this.#records.put(k, kept);
      this.#loaded.set(k, kept);
    });
  }
}
