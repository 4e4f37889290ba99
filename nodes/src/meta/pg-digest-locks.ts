import type { PoolClient } from 'pg';
import type { Digest } from 'georeg/oci';
import type { DigestLocks, DigestUse } from './digest-locks.js';
import { LOCK_CLASS } from './pg-transaction.js';
import type { Db } from './pg-db.js';
import { databaseError } from './pg-unreachable.js';

/**
 * DigestLocks as session-level advisory locks (`LOCK_CLASS.digest`, the digest's hashtext), each
 * holder on a connection of `pool`, a pool of their own (closed with them): a writer holding one
 * writes through the store's pool, so holders never wait for a connection another holder keeps.
 * A GC only tries its exclusive lock, so it never waits for writers, nor makes new writers queue
 * behind it (PostgreSQL queues a shared request behind a waiting exclusive one).
 */
export class PgDigestLocks implements DigestLocks {
  constructor(private readonly pool: Pick<Db, 'connect' | 'end'>) {}

  close(): Promise<void> {
    return this.pool.end();
  }

  async share(digests: readonly Digest[]): Promise<() => Promise<void>> {
    const { c, release } = await this.connection();
    try {
      await c.query('SELECT pg_advisory_lock_shared($1, hashtext(d)) FROM unnest($2::text[]) AS d', [
        LOCK_CLASS.digest,
        [...new Set(digests)].sort(),
      ]);
    } catch (e) {
      await release();
      throw databaseError(e);
    }
    return release;
  }

  async remove<T>(digest: Digest, fn: (use: DigestUse) => Promise<T>): Promise<T | undefined> {
    const { c, release } = await this.connection();
    try {
      const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS.digest, digest]);
      if (!rows[0]?.ok) return undefined;
      return await fn(await digestUse(c, digest));
    } catch (e) {
      throw databaseError(e);
    } finally {
      await release();
    }
  }

  /**
   * A connection of the pool, and how to give it back without the locks it took: unlocked, or, when
   * that fails (it broke while held), closed, which releases them on the server. An error while it
   * waits idle in a holder's hands is heard here (the unlock then fails), not thrown at the process.
   */
  private async connection(): Promise<{ c: PoolClient; release: () => Promise<void> }> {
    const c = await this.pool.connect();
    const heard = (): void => undefined;
    c.on('error', heard);
    return {
      c,
      release: async () => {
        try {
          await c.query('SELECT pg_advisory_unlock_all()');
          c.release();
        } catch (e) {
          c.release(e as Error);
        }
        c.off('error', heard);
      },
    };
  }
}

/** What the database holds of `digest`: read on `c` under its exclusive lock (by the indexes of schema version 3). */
async function digestUse(c: PoolClient, digest: Digest): Promise<DigestUse> {
  const { rows } = await c.query<{ referenced: boolean; links: Record<string, number> }>(
    `SELECT EXISTS (SELECT 1 FROM manifests WHERE digest = $1)
         OR EXISTS (SELECT 1 FROM manifests WHERE record->'references' @> jsonb_build_array($1::text)) AS referenced,
            COALESCE((SELECT jsonb_object_agg(repo, created) FROM blob_links WHERE digest = $1), '{}'::jsonb) AS links`,
    [digest],
  );
  const row = rows[0] as { referenced: boolean; links: Record<string, number> };
  return { referenced: row.referenced, links: new Map(Object.entries(row.links)) };
}
