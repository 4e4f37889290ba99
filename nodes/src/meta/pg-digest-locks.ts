import { setTimeout as delay } from 'node:timers/promises';
import type { PoolClient } from 'pg';
import type { Digest } from 'georeg/oci';
import type { DigestLocks, DigestUse } from './digest-locks.js';
import { LOCK_CLASS } from './pg-transaction.js';
import type { Db } from './pg-db.js';
import { databaseError } from './pg-unreachable.js';

/** Wait between tries of a shared hold while a GC removes the digest (it holds it for moments). */
const RETRY_MS = 20;

/**
 * DigestLocks as advisory locks (`LOCK_CLASS.digest`, the digest's hashtext). Every writer of this
 * node holds its digests shared on one session of `pool` (a pool of two of their own, closed with
 * them: advisory locks stack within a session, and each hold releases its own), so writers take no
 * connection for the length of their write, and the store's pool is never drained by them. Both
 * sides only try: a writer whose digest a GC holds tries again a moment later (it never blocks the
 * session), and a GC leaves a digest a writer holds (PostgreSQL would queue new shared requests
 * behind a waiting exclusive one). The GC's holds go on the pool's other connection.
 */
export class PgDigestLocks implements DigestLocks {
  /** The writers' session, made on first need and anew once it broke (its holds went with it, on the server). */
  #session?: Promise<PoolClient>;
  /** The last query sent on the session: each next one waits for it (a client runs one query at a time). */
  #last: Promise<unknown> = Promise.resolve();

  constructor(private readonly pool: Pick<Db, 'connect' | 'end'>) {}

  async close(): Promise<void> {
    const session = await this.#session?.catch(() => undefined);
    this.#session = undefined;
    session?.release();
    await this.pool.end();
  }

  async share(digests: readonly Digest[]): Promise<() => Promise<void>> {
    const keys = [...new Set(digests)].sort();
    for (;;) {
      const c = await this.#writers();
      const { rows } = await this.#query<{ d: string; ok: boolean }>(
        c,
        'SELECT d, pg_try_advisory_lock_shared($1, hashtext(d)) AS ok FROM unnest($2::text[]) AS d',
        [LOCK_CLASS.digest, keys],
      );
      const held = rows.filter((r) => r.ok).map((r) => r.d);
      if (held.length === keys.length) return () => this.#unshare(c, keys);
      await this.#unshare(c, held); // a GC is removing one of them: hold none meanwhile
      await delay(RETRY_MS);
    }
  }

  async remove<T>(digest: Digest, fn: (use: DigestUse) => Promise<T>): Promise<T | undefined> {
    const c = await this.pool.connect();
    const heard = (): void => undefined; // an error while it is out of the pool: its query fails too
    c.on('error', heard);
    let broken: Error | undefined;
    try {
      const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS.digest, digest]);
      if (!rows[0]?.ok) return undefined;
      try {
        return await fn(await digestUse(c, digest));
      } finally {
        await c.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS.digest, digest]);
      }
    } catch (e) {
      broken = e as Error;
      throw databaseError(e);
    } finally {
      c.off('error', heard);
      c.release(broken); // a connection that failed is closed, which releases its locks on the server
    }
  }

  /** The writers' session. */
  #writers(): Promise<PoolClient> {
    if (!this.#session) {
      const session = this.pool.connect().then((c) => {
        c.on('error', () => this.#drop(session));
        return c;
      });
      session.catch(() => this.#drop(session));
      this.#session = session;
    }
    return this.#session;
  }

  /** Forget a session that broke (the next hold makes another) and close it. */
  #drop(session: Promise<PoolClient>): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    void session.then(
      (c) => c.release(new Error('digest lock session broke')),
      () => undefined,
    );
  }

  /** Release shared holds of `keys` on `c`, unless `c` broke since (the server released them then). */
  async #unshare(c: PoolClient, keys: string[]): Promise<void> {
    if (keys.length === 0 || (await this.#session?.catch(() => undefined)) !== c) return;
    await this.#query(c, 'SELECT pg_advisory_unlock_shared($1, hashtext(d)) FROM unnest($2::text[]) AS d', [LOCK_CLASS.digest, keys]).catch(
      () => undefined,
    );
  }

  /** A query on the writers' session `c`, after the ones sent before it; a failure drops the session. */
  async #query<R extends object>(c: PoolClient, sql: string, params: unknown[]): Promise<{ rows: R[] }> {
    const query = this.#last.then(() => c.query<R & Record<string, unknown>>(sql, params));
    this.#last = query.catch(() => undefined);
    try {
      return await query;
    } catch (e) {
      const session = this.#session;
      if (session && (await session.catch(() => undefined)) === c) this.#drop(session);
      throw databaseError(e);
    }
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
