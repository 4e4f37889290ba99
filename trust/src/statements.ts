export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** Predicate of a cosign image signature. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** Predicate of a georeg tag binding. */
export const TAG_BINDING_PREDICATE = 'https://georeg.dev/tag-binding/v1';

const SHA256 = /^sha256:([a-f0-9]{64})$/;

/** An in-toto Statement v1 about one OCI digest. */
export interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

/**
 * What a tag binding says: in this registry, this repository's tag points at
 * this digest, as the signer's `sequence`-th decision about the tag. A binding
 * cannot be replayed onto another tag, repository or registry, and a higher
 * sequence supersedes a lower one (an older binding is a rollback).
 */
export interface TagBinding {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  sequence: number;
  /** RFC 3339, as claimed by the signer. */
  issuedAt: string;
}

/** A statement that does not have the shape its predicate type requires. */
export class StatementError extends Error {
  override name = 'StatementError';
}

function hexOf(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m?.[1]) throw new StatementError(`not a sha256 digest: ${digest}`);
  return m[1];
}

/** The cosign `sign/v1` statement for an image: the signature pulls by digest need. */
export function imageStatement(name: string, digest: string): Statement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name, digest: { sha256: hexOf(digest) } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  };
}

export function bindingStatement(b: TagBinding): Statement {
  const { digest, ...rest } = b;
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: `${b.registry}/${b.repository}:${b.tag}`, digest: { sha256: hexOf(digest) } }],
    predicateType: TAG_BINDING_PREDICATE,
    predicate: { ...rest },
  };
}

/** Parse and check a statement's envelope: one sha256 subject; returns it with the subject digest. */
export function parseStatement(payload: Buffer): { statement: Statement; digest: string } {
  let s: Statement;
  try {
    s = JSON.parse(payload.toString('utf8')) as Statement;
  } catch {
    throw new StatementError('payload is not JSON');
  }
  if (s === null || typeof s !== 'object' || s._type !== IN_TOTO_STATEMENT_V1)
    throw new StatementError('payload is not an in-toto Statement v1');
  const hex = Array.isArray(s.subject) && s.subject.length === 1 ? s.subject[0]?.digest?.sha256 : undefined;
  if (typeof hex !== 'string' || !/^[a-f0-9]{64}$/.test(hex)) throw new StatementError('statement must have exactly one sha256 subject');
  if (typeof s.predicate !== 'object' || s.predicate === null) throw new StatementError('statement has no predicate');
  return { statement: s, digest: `sha256:${hex}` };
}

/** The binding a statement carries, or a StatementError when it is not a well-formed binding. */
export function bindingOf(s: Statement, digest: string): TagBinding {
  if (s.predicateType !== TAG_BINDING_PREDICATE) throw new StatementError(`not a tag binding: predicate ${s.predicateType}`);
  const p = s.predicate;
  const str = (k: string): string => {
    const v = p[k];
    if (typeof v !== 'string' || v === '') throw new StatementError(`tag binding has no ${k}`);
    return v;
  };
  const sequence = p.sequence;
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0)
    throw new StatementError('tag binding sequence must be a non-negative integer');
  return { registry: str('registry'), repository: str('repository'), tag: str('tag'), digest, sequence, issuedAt: str('issuedAt') };
}
