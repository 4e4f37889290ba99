import type { QueryResult } from 'pg';
import type { Db } from './pg-db.js';
import type { TagRecord, TimePage } from './store.js';
import { notHere } from './time-index.js';

/** Rows read per query by the listings that are async iterables. */
const BATCH = 500;

/**
 * Every row `fetch` finds, a batch at a time in key order: each batch is the `limit` rows after the
 * key of the last one (undefined: from the start), so a long listing holds no cursor open.
 */
export async function* keyset<R>(
  fetch: (after: string | undefined, limit: number) => Promise<QueryResult<R & object>>,
  keyOf: (row: R) => string,
): AsyncIterable<R> {
  for (let after: string | undefined; ;) {
    const { rows } = await fetch(after, BATCH);
    yield* rows;
    if (rows.length < BATCH) return;
    after = keyOf(rows[rows.length - 1] as R);
  }
}

/** A page size as Page.n takes it: undefined (all) or a whole number. */
export function checkPageSize(n: number | undefined): void {
  if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new RangeError(`invalid page size ${n}`);
}

/** The tables in time order (index `<table>_by_time` on (repo, updated, name)) with their name column and what a page reads. */
const TIME_ORDERED = {
  tags: { name: 'name', columns: 'name, digest, created, updated' },
  manifests: { name: 'digest', columns: 'record' },
} as const;

/**
 * A page of `table` in time order, then name, after the row `page.after` names: an index range
 * scan of `<table>_by_time` from that row, whatever the repository's size. The SQL is built from
 * the constants above; values are parameters.
 */
export async function pageByTimeSql<R extends object>(
  pool: Db,
  table: keyof typeof TIME_ORDERED,
  repo: string,
  page: TimePage,
): Promise<R[]> {
  const { name, columns } = TIME_ORDERED[table];
  const dir = page.order === 'asc' ? 'ASC' : 'DESC';
  const params: unknown[] = [repo, page.n];
  let from = '';
  if (page.after !== undefined) {
    const at = await pool.query<{ updated: string }>(`SELECT updated FROM ${table} WHERE repo = $1 AND ${name} = $2`, [repo, page.after]);
    if (!at.rows[0]) throw notHere(page.after);
    params.push(at.rows[0].updated, page.after);
    from = `AND (updated, ${name}) ${page.order === 'asc' ? '>' : '<'} ($3, $4)`;
  }
  const sql = `SELECT ${columns} FROM ${table} WHERE repo = $1 ${from} ORDER BY updated ${dir}, ${name} ${dir} LIMIT $2`;
  return (await pool.query<R>(sql, params)).rows;
}

/** A tags row: bigint columns come as text. */
export interface TagRow {
  name: string;
  digest: TagRecord['digest'];
  created: string;
  updated: string;
}

export function tagRecord(row: TagRow): TagRecord {
  return { name: row.name, digest: row.digest, created: Number(row.created), updated: Number(row.updated) };
}
