import { createHash, type Hash } from 'node:crypto';
import { oci } from './errors.js';

/** Algorithms georeg can hash and store. Others are well-formed but unsupported. */
export const Algorithms = { sha256: 64, sha512: 128 } as const;
export type Algorithm = keyof typeof Algorithms;

/** A validated digest string: `<algorithm>:<lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

// distribution-spec grammar: algorithm-component(+/./_/- separated) ":" encoded
export const GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** The encoded part of a digest of a supported algorithm. */
export const HEX = /^[a-f0-9]+$/;

export function parseDigest(input: unknown): Digest {
  if (typeof input !== 'string' || input.length > 256 || !GRAMMAR.test(input)) {
    throw oci('DIGEST_INVALID', 'invalid digest format', { digest: truncate(input) });
  }
  const i = input.indexOf(':');
  const alg = input.slice(0, i);
  const hex = input.slice(i + 1);
  const len = (Algorithms as Record<string, number>)[alg];
  if (len === undefined) {
    throw oci('DIGEST_INVALID', `unsupported digest algorithm ${alg}`, { digest: input });
  }
  if (hex.length !== len || !HEX.test(hex)) {
    throw oci('DIGEST_INVALID', `invalid ${alg} digest`, { digest: input });
  }
  return input as Digest;
}

export function isDigest(input: string): input is Digest {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(d: Digest): Algorithm {
  return d.slice(0, d.indexOf(':')) as Algorithm;
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

export function newHash(alg: Algorithm = 'sha256'): Hash {
  return createHash(alg);
}

export function digestOf(data: Uint8Array | string, alg: Algorithm = 'sha256'): Digest {
  return `${alg}:${createHash(alg).update(data).digest('hex')}` as Digest;
}

export function hashToDigest(h: Hash, alg: Algorithm): Digest {
  return `${alg}:${h.digest('hex')}` as Digest;
}

function truncate(v: unknown): string {
  return String(v).slice(0, 80);
}
