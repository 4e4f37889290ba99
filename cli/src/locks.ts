/**
 * Locks as the CLI speaks of them: ACR's changeable attributes (`writeEnabled`, ...), each named
 * by the flag of `georeg lock` and `unlock` that sets it (`--write`), described in one line, and
 * the command that lifts a lock a registry refused a request for.
 */
import { ATTRIBUTES, type Attribute, type Attributes } from 'georeg/nodes';

/** `writeEnabled` → `write`: the flag of `georeg lock` and `unlock` that sets it. */
export function flagOf(attribute: Attribute): string {
  return attribute.replace(/Enabled$/, '');
}

/** `locked against delete, write (read, list allowed)`, or `unlocked (delete, write, read, list allowed)`. */
export function describeLocks(attributes: Attributes): string {
  const locked = ATTRIBUTES.filter((a) => !attributes[a]).map(flagOf);
  const allowed = ATTRIBUTES.filter((a) => attributes[a]).map(flagOf);
  const rest = allowed.length ? ` (${allowed.join(', ')} allowed)` : '';
  return locked.length ? `locked against ${locked.join(', ')}${rest}` : `unlocked${rest}`;
}

/**
 * What to do about a request refused by a lock (423, its detail `{lock, attribute}`): the command
 * that lifts it on `registry` (as a reference names it); '' for any other detail.
 */
export function unlockHint(registry: string, detail: unknown): string {
  const { lock, attribute } = (detail ?? {}) as { lock?: unknown; attribute?: unknown };
  if (typeof lock !== 'string' || !ATTRIBUTES.includes(attribute as Attribute)) return '';
  return ` (lift it with \`georeg unlock ${registry}/${lock} --${flagOf(attribute as Attribute)}\`)`;
}
