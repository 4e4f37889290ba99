import { BundleError, type VerifiedStatement } from './dsse.js';
import type { CompiledPolicy, Trust, TrustKey } from './policy.js';
import { bindingOf, COSIGN_SIGN_PREDICATE, StatementError, TAG_BINDING_PREDICATE } from './statements.js';

/** Why a manifest may not be served; stable names for logs and metrics. */
export const DENY_REASONS = [
  'unsigned',
  'invalid-signature',
  'untrusted-key',
  'revoked',
  'expired',
  'not-yet-valid',
  'wrong-digest',
  'other-registry',
  'other-repository',
  'other-tag',
  'stale-binding',
  'threshold',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

export interface Decision {
  allowed: boolean;
  /** `verified` when signatures satisfied the policy, else the reason they did not. */
  result: 'verified' | DenyReason;
  message: string;
  /** Names of the trusted keys whose signatures counted. */
  signers: string[];
  /** The binding sequence that counted (tag decisions). */
  sequence?: number;
  /** ms since epoch after which the decision must be recomputed (a key's window opens or closes). */
  validUntil: number;
}

/** One signature artifact found for the manifest: verified, or why not. */
export type Evidence = VerifiedStatement | BundleError;

export interface Problem {
  reason: DenyReason;
  detail: string;
}

/** Order in which a denial explains itself: the most specific reason first. */
const PRECEDENCE: DenyReason[] = [
  'revoked',
  'expired',
  'not-yet-valid',
  'other-registry',
  'other-repository',
  'other-tag',
  'wrong-digest',
  'invalid-signature',
  'untrusted-key',
];

const NEVER = Number.MAX_SAFE_INTEGER;

/** The key of a verified statement when the policy trusts it now, else the problem. */
export function checkKey(trust: Trust, policy: CompiledPolicy, keyId: string, now: number): TrustKey | Problem {
  const key = trust.keysById.get(keyId);
  if (!key || !policy.keys.has(key.name))
    return {
      reason: 'untrusted-key',
      detail: `signed by ${key ? `key ${key.name}` : `unknown key ${keyId}`}, not trusted for this repository`,
    };
  if (key.revoked) return { reason: 'revoked', detail: `key ${key.name} is revoked` };
  if (key.notAfter !== undefined && now >= key.notAfter)
    return { reason: 'expired', detail: `key ${key.name} expired at ${new Date(key.notAfter).toISOString()}` };
  if (key.notBefore !== undefined && now < key.notBefore)
    return { reason: 'not-yet-valid', detail: `key ${key.name} is valid only from ${new Date(key.notBefore).toISOString()}` };
  return key;
}

export function isProblem(v: TrustKey | Problem): v is Problem {
  return 'reason' in v;
}

/** When a decision resting on these keys changes by itself: the earliest window edge ahead. */
function horizon(trust: Trust, now: number): number {
  let until = NEVER;
  for (const k of trust.keysById.values()) {
    for (const t of [k.notBefore, k.notAfter]) if (t !== undefined && t > now && t < until) until = t;
  }
  return until;
}

function deny(problems: Problem[], fallback: Problem, until: number): Decision {
  const best = PRECEDENCE.map((r) => problems.find((p) => p.reason === r)).find((p) => p !== undefined) ?? fallback;
  return { allowed: false, result: best.reason, message: best.detail, signers: [], validUntil: until };
}

function bundleProblem(e: BundleError): Problem {
  return e.problem === 'untrusted-key'
    ? { reason: 'untrusted-key', detail: e.message }
    : { reason: 'invalid-signature', detail: e.message };
}

export interface TagSubject {
  repository: string;
  tag: string;
  digest: string;
}

/**
 * May `repository:tag`, pointing at `digest`, be served? Only when tag bindings
 * for exactly this registry, repository, tag and digest, at the highest
 * sequence ever seen for the tag, come from `threshold` distinct trusted keys
 * that are valid now.
 */
export function evaluateTag(
  trust: Trust,
  policy: CompiledPolicy,
  subject: TagSubject,
  evidence: Evidence[],
  highestSeen: number,
  now: number,
): Decision {
  const problems: Problem[] = [];
  const candidates: { key: TrustKey; sequence: number }[] = [];
  for (const e of evidence) {
    if (e instanceof BundleError) {
      problems.push(bundleProblem(e));
      continue;
    }
    const key = checkKey(trust, policy, e.keyId, now);
    if (isProblem(key)) {
      problems.push(key);
      continue;
    }
    let b;
    try {
      b = bindingOf(e.statement, e.digest);
    } catch (err) {
      problems.push({ reason: 'invalid-signature', detail: (err as StatementError).message });
      continue;
    }
    if (b.digest !== subject.digest)
      problems.push({ reason: 'wrong-digest', detail: `binding by ${key.name} is for ${b.digest}, not ${subject.digest}` });
    else if (trust.identity !== undefined && b.registry !== trust.identity)
      problems.push({ reason: 'other-registry', detail: `binding by ${key.name} is for registry ${b.registry}, not ${trust.identity}` });
    else if (b.repository !== subject.repository)
      problems.push({
        reason: 'other-repository',
        detail: `binding by ${key.name} is for repository ${b.repository}, not ${subject.repository}`,
      });
    else if (b.tag !== subject.tag)
      problems.push({ reason: 'other-tag', detail: `binding by ${key.name} is for tag ${b.tag}, not ${subject.tag}` });
    else candidates.push({ key, sequence: b.sequence });
  }
  const until = horizon(trust, now);
  const highest = Math.max(highestSeen, ...candidates.map((c) => c.sequence));
  const current = [...new Set(candidates.filter((c) => c.sequence === highest).map((c) => c.key.name))].sort();
  if (current.length >= policy.threshold) {
    return {
      allowed: true,
      result: 'verified',
      message: `signed by ${current.join(', ')} at sequence ${highest}`,
      signers: current,
      sequence: highest,
      validUntil: until,
    };
  }
  if (current.length > 0) {
    return deny(
      [],
      {
        reason: 'threshold',
        detail: `threshold not met: ${current.length} of ${policy.threshold} trusted keys signed (${current.join(', ')})`,
      },
      until,
    );
  }
  const stale = candidates.filter((c) => c.sequence < highest);
  if (stale.length > 0) {
    const best = Math.max(...stale.map((c) => c.sequence));
    return deny(
      [],
      {
        reason: 'stale-binding',
        detail: `stale binding: sequence ${best} is older than ${highest}, the highest seen for this tag (rollback refused)`,
      },
      until,
    );
  }
  return deny(
    problems,
    { reason: 'unsigned', detail: `no tag binding for ${subject.repository}:${subject.tag} -> ${subject.digest}` },
    until,
  );
}

/**
 * May the manifest `digest` of `repository` be pulled by digest? When
 * `threshold` distinct trusted keys signed it: a cosign image signature, or a
 * tag binding of this repository (which signs the digest too).
 */
export function evaluateDigest(
  trust: Trust,
  policy: CompiledPolicy,
  repository: string,
  digest: string,
  evidence: Evidence[],
  now: number,
): Decision {
  const problems: Problem[] = [];
  const signers = new Set<string>();
  for (const e of evidence) {
    if (e instanceof BundleError) {
      problems.push(bundleProblem(e));
      continue;
    }
    const key = checkKey(trust, policy, e.keyId, now);
    if (isProblem(key)) problems.push(key);
    else if (e.digest !== digest)
      problems.push({ reason: 'wrong-digest', detail: `signature by ${key.name} is for ${e.digest}, not ${digest}` });
    else if (e.statement.predicateType === COSIGN_SIGN_PREDICATE) {
      // The signature names the image it signs: this repository (in this registry, when the document says which).
      const name = e.statement.subject[0]?.name ?? '';
      if (trust.identity !== undefined ? name === `${trust.identity}/${repository}` : name.endsWith(`/${repository}`))
        signers.add(key.name);
      else
        problems.push({
          reason: 'other-repository',
          detail: `signature by ${key.name} is for ${name || 'an unnamed image'}, not ${repository}`,
        });
    } else if (e.statement.predicateType === TAG_BINDING_PREDICATE) {
      try {
        const b = bindingOf(e.statement, e.digest);
        if (b.repository === repository && (trust.identity === undefined || b.registry === trust.identity)) signers.add(key.name);
        else problems.push({ reason: 'other-repository', detail: `binding by ${key.name} is for ${b.registry}/${b.repository}` });
      } catch (err) {
        problems.push({ reason: 'invalid-signature', detail: (err as StatementError).message });
      }
    } else problems.push({ reason: 'invalid-signature', detail: `unexpected predicate ${e.statement.predicateType}` });
  }
  const until = horizon(trust, now);
  const names = [...signers].sort();
  if (names.length >= policy.threshold)
    return { allowed: true, result: 'verified', message: `signed by ${names.join(', ')}`, signers: names, validUntil: until };
  if (names.length > 0)
    return deny(
      [],
      {
        reason: 'threshold',
        detail: `threshold not met: ${names.length} of ${policy.threshold} trusted keys signed (${names.join(', ')})`,
      },
      until,
    );
  return deny(problems, { reason: 'unsigned', detail: `no signature for ${repository}@${digest}` }, until);
}
