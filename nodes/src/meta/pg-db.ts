import pg from 'pg';
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';
import { databaseError } from './pg-unreachable.js';

/**
 * The database as PgMetaStore's parts use it: a connection pool whose failures to reach the
 * database come out as UNAVAILABLE (pg-unreachable.ts); transaction() does the same for the
 * queries of a client it connects.
 */
export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** A client of the pool, for a transaction (pg-transaction.ts): give it back with release(). */
  connect(): Promise<PoolClient>;
  end(): Promise<void>;
}

/**
 * A pool of at most `size` connections to the database `url` names. A query not answered within
 * `queryTimeoutMs` (0: no limit) fails, and its connection is closed: so a connection that goes
 * silent (a partition drops its packets) fails its request rather than hold it for the minutes TCP
 * takes to give up.
 */
export function openDb(url: string, size: number, queryTimeoutMs = 0): Db {
  // A database that does not take a connection fails a request in seconds rather than holding it.
  const pool = new pg.Pool({
    connectionString: url,
    max: size,
    connectionTimeoutMillis: 5000,
    ...(queryTimeoutMs > 0 && { query_timeout: queryTimeoutMs }),
  });
  // An idle connection that breaks (the server restarted) is dropped by the pool; the next query opens another.
  pool.on('error', () => undefined);
  // A client checked out of the pool has no 'error' listener of its own: a connection that broke
  // mid-transaction would throw its error event at the process. Its query in flight fails anyway.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    query: <R extends QueryResultRow>(sql: string, params?: unknown[]) => pool.query<R>(sql, params).catch(rethrow),
    connect: () => pool.connect().catch(rethrow),
    end: () => pool.end(),
  };
}

function rethrow(err: unknown): never {
  throw databaseError(err);
}
