import { createHash } from 'node:crypto';
import type { Digest } from 'georeg/oci';
import type { HlcTimestamp } from '../hlc.js';

/*
 * The digest tree: a summary of what a region holds that replication converges, which two regions
 * compare top down to find where they differ (Merkle-style anti-entropy).
 *
 * - An item is one tag (name, digest or none once deleted, clock), one manifest (digest) or one
 *   replicated record (key, clock). Its hash is SHA-256 of its fields.
 * - A repository's hash is the XOR of its items' hashes: a change swaps one item for another with
 *   two XORs, whatever the repository's size. Stores keep it with the change, in the same write.
 * - Repositories fall into 65,536 leaves by the first two bytes of SHA-256 of their name; a leaf's
 *   hash is the XOR of its repositories' (name, hash) hashes, a level-1 node's the XOR of its 256
 *   leaves, the root's the XOR of the 256 level-1 nodes. The levels above repositories are derived
 *   (held in memory, built from the repository hashes when a store opens; PostgreSQL's store, shared
 *   by several nodes, keeps them in tables instead: pg-tree.ts).
 * - Each replicated record store (policies, identities, locks) has its own hash, the XOR of its
 *   records' (key, clock) hashes.
 *
 * Two regions holding the same content have the same hashes. XOR is not collision-resistant
 * against someone who chooses the items; the peers that compare trees trust each other already
 * (mutual TLS), and a difference the tree missed would still be found by a full comparison.
 */

export const HASH_BYTES = 32;
/** Children per node: a tree of 256 level-1 nodes and 65,536 leaves. */
export const FANOUT = 256;

/** Record stores whose records replicate, each summarised by one hash. */
export const TREE_RECORD_STORES = ['policies', 'identities', 'locks'] as const;
export type TreeRecordStore = (typeof TREE_RECORD_STORES)[number];

export function isTreeRecordStore(name: string): name is TreeRecordStore {
  return (TREE_RECORD_STORES as readonly string[]).includes(name);
}

/** A repository of a leaf with its hash. */
export interface RepositoryHash {
  name: string;
  hash: Buffer;
}

/** What a store answers of its digest tree (the interface of every MetaStore's). */
export interface DigestTreeReader {
  /** The hashes of a node's 256 children, concatenated: '' the root's (level-1 nodes), two hex digits a level-1 node's (leaves). */
  children(path: string): Promise<Buffer>;
  /** The repositories of a leaf (four hex digits) with their hashes, sorted by name. */
  leaf(path: string): Promise<RepositoryHash[]>;
  /** The hash of a replicated record store. */
  records(store: TreeRecordStore): Promise<Buffer>;
}

const ZERO = Buffer.alloc(HASH_BYTES);

function hash(...fields: string[]): Buffer {
  return createHash('sha256').update(fields.join('\0')).digest();
}

function clockText(clock: HlcTimestamp): string {
  return `${clock.wallMs}.${clock.logical}.${clock.region}`;
}

/** A tag's item: its digest (none once deleted) and the clock of its last change; undefined when the store holds neither. */
export function tagItem(tag: string, digest: Digest | undefined, clock: HlcTimestamp | undefined): Buffer | undefined {
  if (digest === undefined && clock === undefined) return undefined;
  return hash('t', tag, digest ?? '', clock ? clockText(clock) : '');
}

/**
 * The digest-tree items of a tag moving from `before` to `after` (a digest, or none: deleted), from
 * the clock it `held` to `clock` (none given: it keeps the one held).
 */
export function tagItems(
  tag: string,
  before: Digest | undefined,
  after: Digest | undefined,
  held: HlcTimestamp | undefined,
  clock?: HlcTimestamp,
): (Buffer | undefined)[] {
  return [tagItem(tag, before, held), tagItem(tag, after, clock ?? held)];
}

export function manifestItem(digest: Digest): Buffer {
  return hash('m', digest);
}

/** A replicated record's item: its key and clock (a record without a clock is local: no item). */
export function recordItem(key: string, record: unknown): Buffer | undefined {
  const clock = (record as { clock?: HlcTimestamp } | undefined)?.clock;
  return clock === undefined ? undefined : hash('n', key, clockText(clock));
}

/** A repository's item in its leaf: its name and hash (none while it holds nothing the tree summarises). */
export function repositoryItem(repo: string, repoHash: Buffer | undefined): Buffer | undefined {
  return repoHash && hash('r', repo, repoHash.toString('hex'));
}

/** `base` XOR each item, as a new buffer; undefined when the result is all zero (nothing held). */
export function xorItems(base: Buffer | undefined, items: (Buffer | undefined)[]): Buffer | undefined {
  const out = Buffer.from(base ?? ZERO);
  for (const item of items) if (item) xorInto(out, item);
  return out.equals(ZERO) ? undefined : out;
}

function xorInto(target: Buffer, src: Buffer, at = 0): void {
  for (let i = 0; i < HASH_BYTES; i++) target[at + i] = (target[at + i] as number) ^ (src[i] as number);
}

/** The leaf (0..65535) a repository falls into. */
export function leafOf(repo: string): number {
  return createHash('sha256').update(repo).digest().readUInt16BE(0);
}

/** A leaf's path: four hex digits. */
export function leafPath(leaf: number): string {
  return leaf.toString(16).padStart(4, '0');
}

/** A node's number from its path, checked: two hex digits for a level-1 node, four for a leaf. */
export function parsePath(path: string, digits: 2 | 4): number {
  if (path.length !== digits || !/^[0-9a-f]+$/.test(path)) {
    throw new RangeError(`a digest tree path of ${digits} lowercase hex digits was expected, got ${JSON.stringify(path)}`);
  }
  return parseInt(path, 16);
}

/**
 * The levels of a digest tree above the repositories, in memory: what a store fills from its
 * repository hashes when it opens and updates once each write has committed.
 */
export class DigestTree implements DigestTreeReader {
  readonly #repos = new Map<string, Buffer>();
  readonly #byLeaf = new Map<number, Set<string>>();
  readonly #leaves = Buffer.alloc(FANOUT * FANOUT * HASH_BYTES);
  readonly #level1 = Buffer.alloc(FANOUT * HASH_BYTES);
  readonly #records = new Map<TreeRecordStore, Buffer>(TREE_RECORD_STORES.map((s) => [s, Buffer.alloc(HASH_BYTES)]));

  /** A repository's hash (undefined: it holds nothing the tree summarises). */
  repository(repo: string): Buffer | undefined {
    return this.#repos.get(repo);
  }

  /** Set a repository's hash (undefined: it holds nothing any more). */
  setRepository(repo: string, next: Buffer | undefined): void {
    const previous = this.#repos.get(repo);
    if (previous === next || (previous && next && previous.equals(next))) return;
    const leaf = leafOf(repo);
    const delta = xorItems(undefined, [repositoryItem(repo, previous), repositoryItem(repo, next)]);
    if (delta) {
      xorInto(this.#leaves, delta, leaf * HASH_BYTES);
      xorInto(this.#level1, delta, (leaf >> 8) * HASH_BYTES);
    }
    let members = this.#byLeaf.get(leaf);
    if (next) {
      this.#repos.set(repo, Buffer.from(next));
      if (!members) this.#byLeaf.set(leaf, (members = new Set()));
      members.add(repo);
    } else {
      this.#repos.delete(repo);
      members?.delete(repo);
      if (members?.size === 0) this.#byLeaf.delete(leaf);
    }
  }

  /** A replicated record changed from `before` to `after` (either absent). */
  recordChanged(store: TreeRecordStore, key: string, before: unknown, after: unknown): void {
    const held = this.#records.get(store) as Buffer;
    for (const item of [recordItem(key, before), recordItem(key, after)]) if (item) xorInto(held, item);
  }

  async children(path: string): Promise<Buffer> {
    if (path === '') return Buffer.from(this.#level1);
    const node = parsePath(path, 2);
    return Buffer.from(this.#leaves.subarray(node * FANOUT * HASH_BYTES, (node + 1) * FANOUT * HASH_BYTES));
  }

  async leaf(path: string): Promise<RepositoryHash[]> {
    const names = [...(this.#byLeaf.get(parsePath(path, 4)) ?? [])].sort();
    return names.map((name) => ({ name, hash: Buffer.from(this.#repos.get(name) as Buffer) }));
  }

  async records(store: TreeRecordStore): Promise<Buffer> {
    return Buffer.from(this.#records.get(store) as Buffer);
  }
}
