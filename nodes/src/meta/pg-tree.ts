import type { PoolClient } from 'pg';
import type { Db } from './pg-db.js';
import {
  FANOUT,
  HASH_BYTES,
  leafOf,
  parsePath,
  recordItem,
  repositoryItem,
  xorItems,
  type DigestTreeReader,
  type RepositoryHash,
  type TreeRecordStore,
} from './digest-tree.js';

/*
 * The digest tree (digest-tree.ts) of a PostgreSQL metadata store, in the database: several nodes
 * write to one database, so a tree held in one node's memory would miss the others' changes.
 *
 *   repository_hashes  (name, leaf, hash)  a repository's hash, with its leaf (leafOf)
 *   tree_leaves        (leaf, hash)        XOR of the (name, hash) items of the leaf's repositories
 *   tree_level1        (node, hash)        XOR of its 256 leaves
 *   record_hashes      (store, hash)       XOR of the (key, clock) items of a replicated record store
 *
 * Writes: a change computes the repository's new hash from the one it reads (under the
 * repository's lock, in the change's transaction: the hash read is the one replaced), then XORs
 * the difference of its (name, hash) item into its leaf's and level-1 node's rows, `hash # delta`
 * on bit(256). Each upsert locks its row until commit: concurrent changes of repositories that share
 * a leaf or level-1 node queue there for the end of their transactions (the tree is their last
 * step), and compose, XOR being commutative. A transaction touches one leaf and one level-1 row,
 * always in that order, so they cannot deadlock. Rows left all zero stay; they read as zero.
 *
 * Reads, whatever the number of repositories: children('') reads at most 256 rows, children(xx) at
 * most 256 by primary-key range, leaf(xxxx) the repositories of one leaf (repository_hashes_by_leaf),
 * records(store) one row. A no-op anti-entropy pass (children('') and records x3) reads at most
 * 259 small rows.
 */
export class PgDigestTree implements DigestTreeReader {
  constructor(private readonly pool: Db) {}

  async children(path: string): Promise<Buffer> {
    const { rows } =
      path === ''
        ? await this.pool.query<HashRow>('SELECT node AS n, hash::text AS bits FROM tree_level1')
        : await this.pool.query<HashRow>('SELECT leaf - $1 AS n, hash::text AS bits FROM tree_leaves WHERE leaf BETWEEN $1 AND $1 + 255', [
            parsePath(path, 2) * FANOUT,
          ]);
    const out = Buffer.alloc(FANOUT * HASH_BYTES);
    for (const { n, bits } of rows) fromBits(bits).copy(out, n * HASH_BYTES);
    return out;
  }

  async leaf(path: string): Promise<RepositoryHash[]> {
    const { rows } = await this.pool.query<RepositoryHash>('SELECT name, hash FROM repository_hashes WHERE leaf = $1 ORDER BY name', [
      parsePath(path, 4),
    ]);
    return rows;
  }

  async records(store: TreeRecordStore): Promise<Buffer> {
    const { rows } = await this.pool.query<HashRow>('SELECT hash::text AS bits FROM record_hashes WHERE store = $1', [store]);
    return rows[0] ? fromBits(rows[0].bits) : Buffer.alloc(HASH_BYTES);
  }
}

interface HashRow {
  n: number;
  bits: string;
}

/** XOR `items` (tag and manifest items come and gone) into the hash of `repo`, its leaf and level-1 node; run under the repository's lock. */
export async function changeRepositoryHash(c: PoolClient, repo: string, items: (Buffer | undefined)[]): Promise<void> {
  if (items.every((i) => i === undefined)) return;
  const { rows } = await c.query<{ hash: Buffer }>('SELECT hash FROM repository_hashes WHERE name = $1', [repo]);
  const held = rows[0]?.hash;
  const next = xorItems(held, items);
  if (held && next ? held.equals(next) : held === next) return;
  const leaf = leafOf(repo);
  if (next) {
    await c.query(
      'INSERT INTO repository_hashes (name, leaf, hash) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash',
      [repo, leaf, next],
    );
  } else {
    await c.query('DELETE FROM repository_hashes WHERE name = $1', [repo]);
  }
  const delta = xorItems(undefined, [repositoryItem(repo, held), repositoryItem(repo, next)]);
  if (!delta) return;
  await c.query(
    'INSERT INTO tree_leaves (leaf, hash) VALUES ($1, $2::bit(256)) ON CONFLICT (leaf) DO UPDATE SET hash = tree_leaves.hash # EXCLUDED.hash',
    [leaf, bits(delta)],
  );
  await c.query(
    'INSERT INTO tree_level1 (node, hash) VALUES ($1, $2::bit(256)) ON CONFLICT (node) DO UPDATE SET hash = tree_level1.hash # EXCLUDED.hash',
    [leaf >> 8, bits(delta)],
  );
}

/** A replicated record of `store` changed from `before` to `after` (either absent); run under the record's lock. */
export async function changeRecordHash(c: PoolClient, store: TreeRecordStore, key: string, before: unknown, after: unknown): Promise<void> {
  const delta = xorItems(undefined, [recordItem(key, before), recordItem(key, after)]);
  if (!delta) return;
  await c.query(
    'INSERT INTO record_hashes (store, hash) VALUES ($1, $2::bit(256)) ON CONFLICT (store) DO UPDATE SET hash = record_hashes.hash # EXCLUDED.hash',
    [store, bits(delta)],
  );
}

/** A hash as bit(256) input: 'x' and its hex digits. */
function bits(hash: Buffer): string {
  return `x${hash.toString('hex')}`;
}

/** bit(256) output ('0' and '1', most significant first) as bytes. */
function fromBits(text: string): Buffer {
  const out = Buffer.alloc(HASH_BYTES);
  for (let i = 0; i < HASH_BYTES; i++) out[i] = parseInt(text.slice(i * 8, i * 8 + 8), 2);
  return out;
}
