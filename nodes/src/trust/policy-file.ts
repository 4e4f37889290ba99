import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** A policy file that cannot be read, or one of its `publicKeyFile`s. */
export class PolicyFileError extends Error {
  override name = 'PolicyFileError';
}

async function read(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new PolicyFileError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/**
 * A trust policy document from a file, as the registry takes it: a key may name
 * its PEM by `publicKeyFile` (relative to the policy file) instead of carrying
 * it JSON-escaped in `publicKey`; the file's PEM is put in its place, so the
 * stored and replicated document is whole and needs no file in other regions.
 * Anything else (invalid JSON included) is left for the policy's own validation.
 */
export async function readPolicyFile(file: string): Promise<string> {
  const text = await read(file, 'policy file');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  // A file without key files is taken as it is: the node re-applies trust.policyFile when its text
  // changes, so a re-serialised copy would roll back a newer policy set through the API.
  if (!Array.isArray(keys) || !keys.some((k) => typeof (k as { publicKeyFile?: unknown } | null)?.publicKeyFile === 'string')) return text;
  for (const [i, key] of keys.entries()) {
    const k = key as Record<string, unknown> | null;
    if (typeof k?.publicKeyFile !== 'string') continue;
    if (k.publicKey !== undefined) throw new PolicyFileError(`keys[${i}]: give publicKey or publicKeyFile, not both`);
    k.publicKey = await read(resolve(dirname(file), k.publicKeyFile), `keys[${i}].publicKeyFile`);
    delete k.publicKeyFile;
  }
  return JSON.stringify(doc);
}
