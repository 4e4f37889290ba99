import type { Pool, PoolClient } from 'pg';

/**
 * The first key of PgMetaStore's advisory locks (the second is 0 or a name's hashtext), so they
 * stay apart from each other and from other users of the database's advisory locks. Two names of
 * one hashtext share a lock: they are serialised together, which is slower, never wrong.
 */
export const LOCK_CLASS = {
  migrations: 0x67720001,
  repository: 0x67720002,
  record: 0x67720003,
  lease: 0x67720004,
  digest: 0x67720005,
} as const;

/** Run `fn` in one transaction on a client of `pool`: committed when it resolves, rolled back when it throws. */
export async function transaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const result = await fn(c);
    await c.query('COMMIT');
    c.release();
    return result;
  } catch (e) {
    // A client whose ROLLBACK fails (its connection broke) is not given back to the pool.
    await c.query('ROLLBACK').then(
      () => c.release(),
      (err: Error) => c.release(err),
    );
    throw e;
  }
}

/**
 * Serialise this transaction with every other one that changes `repo`, in any process on the
 * database: what it reads of the repository (tags, clocks, its digest-tree hash) is what it replaces.
 */
export async function lockRepository(c: PoolClient, repo: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS.repository, repo]);
}

/** The same for one key of a named record store. */
export async function lockRecord(c: PoolClient, store: string, key: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS.record, `${store}!${key}`]);
}

/** Append `events` to the outbox, in their order, in the transaction of `c`. */
export async function appendOutbox(c: PoolClient, events: Uint8Array[]): Promise<void> {
  if (events.length === 0) return;
  await c.query('INSERT INTO outbox (event) SELECT e FROM unnest($1::bytea[]) WITH ORDINALITY AS u(e, i) ORDER BY i', [
    events.map((e) => Buffer.from(e)),
  ]);
}
