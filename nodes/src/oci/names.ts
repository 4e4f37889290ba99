import { oci } from './errors.js';
import { parseDigest, type Digest } from './digest.js';

/** distribution-spec name grammar, lowercase path components separated by `/`. */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

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
