import type { KeyObject } from 'node:crypto';
import { KeyError, keyIdOf, parsePublicKey } from './keys.js';

export const TRUST_MODES = ['enforce', 'audit', 'off'] as const;
export type TrustMode = (typeof TRUST_MODES)[number];

/** A public key the registry may trust, by name. */
export interface TrustKeyConfig {
  name: string;
  /** SPKI PEM. */
  publicKey: string;
  /** RFC 3339; signatures by the key count only from then on. */
  notBefore?: string;
  /** RFC 3339; signatures by the key stop counting then. */
  notAfter?: string;
  /** A revoked key's signatures never count again. */
  revoked?: boolean;
}

/** What a set of repositories requires before its tags are served. */
export interface TrustPolicyConfig {
  /** Repository globs: `*` within one path segment, `**` across segments. */
  repositories: string[];
  mode: TrustMode;
  /** Names of the keys trusted here. */
  keys: string[];
  /** How many distinct trusted keys must sign (default 1). */
  threshold?: number;
}

/** The registry-wide trust configuration; the first policy matching a repository applies. */
export interface TrustDocument {
  /** The registry identity tag bindings must name (e.g. `registry.example.com`); unset: not checked. */
  identity?: string;
  keys: TrustKeyConfig[];
  policies: TrustPolicyConfig[];
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export interface TrustKey {
  name: string;
  keyId: string;
  key: KeyObject;
  notBefore?: number;
  notAfter?: number;
  revoked: boolean;
}

export interface CompiledPolicy {
  index: number;
  mode: TrustMode;
  keys: ReadonlySet<string>;
  threshold: number;
}

/** A validated trust document, ready to evaluate: keys parsed, globs compiled. */
export interface Trust {
  document: TrustDocument;
  identity?: string;
  keysById: ReadonlyMap<string, TrustKey>;
  /** Public keys by key id, for bundle verification. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  policyFor(repository: string): CompiledPolicy | undefined;
}

const MAX_GLOB = 256;

/**
 * A repository glob as a matcher: `**` matches any run of characters, `*` any
 * run without `/`. Matching is dynamic programming over pattern and name
 * (O(pattern × name)), never regex backtracking, so no glob can stall a node.
 */
export function compileGlob(glob: string): (name: string) => boolean {
  if (!/^[a-z0-9._\-/*]+$/.test(glob) || glob.length > MAX_GLOB)
    throw new PolicyError(`repository glob ${JSON.stringify(glob)} may hold only [a-z0-9._-/] and *, at most ${MAX_GLOB} characters`);
  const tokens = glob
    .replace(/\*{3,}/g, '**')
    .split(/(\*\*|\*)/)
    .filter((t) => t !== '');
  return (name) => {
    // reach[j]: the pattern consumed so far can end at name position j.
    let reach = new Uint8Array(name.length + 1);
    reach[0] = 1;
    for (const t of tokens) {
      const next = new Uint8Array(name.length + 1);
      for (let j = 0; j <= name.length; j++) {
        if (!reach[j]) continue;
        if (t === '**' || t === '*') {
          for (let k = j; k <= name.length; k++) {
            next[k] = 1;
            if (t === '*' && name[k] === '/') break;
          }
        } else if (name.startsWith(t, j)) next[j + t.length] = 1;
      }
      reach = next;
    }
    return reach[name.length] === 1;
  };
}

function time(where: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new PolicyError(`${where} must be an RFC 3339 time, got ${JSON.stringify(v)}`);
  return t;
}

function object(where: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PolicyError(`${where} must be an object`);
  return v as Record<string, unknown>;
}

function checkKeys(where: string, o: Record<string, unknown>, allowed: string[]): void {
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new PolicyError(`${where}: unknown field ${unknown.join(', ')} (allowed: ${allowed.join(', ')})`);
}

function strings(where: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string'))
    throw new PolicyError(`${where} must be a non-empty list of strings`);
  return v as string[];
}

function compileKey(i: number, v: unknown): TrustKey {
  const where = `keys[${i}]`;
  const o = object(where, v);
  checkKeys(where, o, ['name', 'publicKey', 'notBefore', 'notAfter', 'revoked']);
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.name))
    throw new PolicyError(`${where}.name must match [A-Za-z0-9._-]{1,64}`);
  if (typeof o.publicKey !== 'string') throw new PolicyError(`${where}.publicKey must be a PEM public key`);
  if (o.revoked !== undefined && typeof o.revoked !== 'boolean') throw new PolicyError(`${where}.revoked must be true or false`);
  let key: KeyObject;
  try {
    key = parsePublicKey(o.publicKey);
  } catch (e) {
    throw new PolicyError(`${where} (${o.name}): ${(e as KeyError).message}`);
  }
  const notBefore = time(`${where}.notBefore`, o.notBefore);
  const notAfter = time(`${where}.notAfter`, o.notAfter);
  return { name: o.name, keyId: keyIdOf(key), key, notBefore, notAfter, revoked: o.revoked === true };
}

/** Validate a trust document (from a config file or the admin API); every mistake is a PolicyError naming its place. */
export function compileTrust(input: unknown): Trust {
  const doc = object('trust', input);
  checkKeys('trust', doc, ['identity', 'keys', 'policies']);
  if (doc.identity !== undefined && (typeof doc.identity !== 'string' || doc.identity === ''))
    throw new PolicyError('identity must be a non-empty string');
  const rawKeys = doc.keys ?? [];
  const rawPolicies = doc.policies ?? [];
  if (!Array.isArray(rawKeys)) throw new PolicyError('keys must be a list');
  if (!Array.isArray(rawPolicies)) throw new PolicyError('policies must be a list');
  const keys = rawKeys.map((k, i) => compileKey(i, k));
  const byName = new Map(keys.map((k) => [k.name, k]));
  if (byName.size !== keys.length) throw new PolicyError('key names must be unique');
  const policies = rawPolicies.map((v, index) => {
    const where = `policies[${index}]`;
    const o = object(where, v);
    checkKeys(where, o, ['repositories', 'mode', 'keys', 'threshold']);
    const globs = strings(`${where}.repositories`, o.repositories).map(compileGlob);
    if (!TRUST_MODES.includes(o.mode as TrustMode)) throw new PolicyError(`${where}.mode must be one of ${TRUST_MODES.join(', ')}`);
    const names = o.keys === undefined && o.mode === 'off' ? [] : strings(`${where}.keys`, o.keys);
    const missing = names.filter((n) => !byName.has(n));
    if (missing.length) throw new PolicyError(`${where}.keys names unknown key ${missing.join(', ')}`);
    const threshold = o.threshold ?? 1;
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || (o.mode !== 'off' && threshold > names.length)) {
      throw new PolicyError(`${where}.threshold must be an integer from 1 to the number of keys (${names.length})`);
    }
    return { globs, compiled: { index, mode: o.mode as TrustMode, keys: new Set(names), threshold } };
  });
  const keysById = new Map(keys.map((k) => [k.keyId, k]));
  if (keysById.size !== keys.length) {
    const twin = keys.find((k, i) => keys.findIndex((o) => o.keyId === k.keyId) !== i);
    throw new PolicyError(`key ${twin?.name} has the same public key as another key: each key may appear once`);
  }
  return {
    document: {
      ...(doc.identity ? { identity: doc.identity as string } : {}),
      keys: rawKeys as TrustKeyConfig[],
      policies: rawPolicies as TrustPolicyConfig[],
    },
    identity: doc.identity as string | undefined,
    keysById,
    publicKeys: new Map(keys.map((k) => [k.keyId, k.key])),
    policyFor: (repository) => policies.find((p) => p.globs.some((matches) => matches(repository)))?.compiled,
  };
}
