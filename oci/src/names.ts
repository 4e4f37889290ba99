import { oci } from './errors.js';
import { parseDigest, type Digest } from './digest.js';

/** distribution-spec name grammar, lowercase path components separated by `/`. */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
export const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
export const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export const MAX_NAME_LENGTH = 255;

export function parseName(input: string): string {
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !NAME.test(input)) {
    throw oci('NAME_INVALID', 'invalid repository name', { name: input.slice(0, MAX_NAME_LENGTH) });
  }
  return input;
}

export function isTag(input: string): boolean {
  return TAG.test(input);
}

export function parseTag(input: string): string {
  if (!TAG.test(input)) throw oci('TAG_INVALID', 'invalid tag', { tag: input.slice(0, 128) });
  return input;
}

export type Reference = { tag: string; digest: undefined } | { digest: Digest; tag: undefined };

/** A manifest reference: a tag or a digest. */
export function parseReference(input: string): Reference {
  if (TAG.test(input)) return { tag: input, digest: undefined };
  if (input.includes(':')) return { digest: parseDigest(input), tag: undefined };
  throw oci('TAG_INVALID', 'invalid reference: not a tag or a digest', { reference: input.slice(0, 128) });
}

/**
 * A reference to look up (GET, HEAD): one that is neither a valid tag nor a
 * digest names nothing that exists, so it is MANIFEST_UNKNOWN (404, as the OCI
 * conformance suite expects) with the reason in `detail`; writes keep
 * `parseReference`'s 400.
 */
export function lookupReference(input: string): Reference {
  try {
    return parseReference(input);
  } catch (e) {
    throw oci('MANIFEST_UNKNOWN', 'manifest unknown: the reference is neither a valid tag nor a digest', {
      reference: input.slice(0, 128),
      reason: (e as Error).message,
    });
  }
}
