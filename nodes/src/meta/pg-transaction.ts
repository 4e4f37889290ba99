import type { PoolClient } from 'pg';
import type { Db } from './pg-db.js';
import { databaseError } from './pg-unreachable.js';

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

/**
 * Run `fn` in one transaction on a client of `db`: committed when it resolves, rolled back when it
 * throws (a failure to reach the database thrown as UNAVAILABLE, as Db's own).
 */
export async function transaction<T>(db: Db, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await db.connect();
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
    throw databaseError(e);
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

/**
 * Append `events` to the outbox, in their order, in the transaction of `c`; the events of a
 * change of `repo` (whose lock the transaction holds) numbered after the repository's earlier ones.
 */
export async function appendOutbox(c: PoolClient, events: Uint8Array[], repo?: string): Promise<void> {
  if (events.length === 0) return;
  let first: number | null = null;
  if (repo !== undefined) {
    const { rows } = await c.query<{ seq: string }>(
      `INSERT INTO repository_events (name, seq) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET seq = repository_events.seq + EXCLUDED.seq RETURNING seq`,
      [repo, events.length],
    );
    first = Number(rows[0]?.seq) - events.length + 1;
  }
  await c.query(
    `INSERT INTO outbox (event, repository_seq)
     SELECT e, $2::bigint + i - 1 FROM unnest($1::bytea[]) WITH ORDINALITY AS u(e, i) ORDER BY i`,
    [events.map((e) => Buffer.from(e)), first],
  );
}
