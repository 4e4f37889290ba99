import type { Pool } from 'pg';
import { isTreeRecordStore } from './digest-tree.js';
import type { RecordStore, RecordStoreName, WriteOptions } from './store.js';
import { appendOutbox, lockRecord, transaction } from './pg-transaction.js';
import { changeRecordHash } from './pg-tree.js';
import { keyset } from './pg-rows.js';

/**
 * A named record store in the `records` table. A put of a replicated store's record (policies,
 * identities, locks) takes the key's lock, so the record it reads and replaces in the digest tree
 * is the one held, whichever node writes. `written` is told how many events each put appended.
 */
export function pgRecordStore<T>(pool: Pool, name: RecordStoreName, written: (events: number) => void): RecordStore<T> {
  return {
    get: async (key) => {
      const { rows } = await pool.query<{ record: T }>('SELECT record FROM records WHERE store = $1 AND key = $2', [name, key]);
      return rows[0]?.record;
    },
    put: async (key: string, record: T, opts?: Pick<WriteOptions, 'events'>) => {
      const events = opts?.events ?? [];
      await transaction(pool, async (c) => {
        if (isTreeRecordStore(name)) {
          await lockRecord(c, name, key);
          const { rows } = await c.query<{ record: unknown }>('SELECT record FROM records WHERE store = $1 AND key = $2', [name, key]);
          await changeRecordHash(c, name, key, rows[0]?.record, record);
        }
        await c.query(
          'INSERT INTO records (store, key, record) VALUES ($1, $2, $3) ON CONFLICT (store, key) DO UPDATE SET record = EXCLUDED.record',
          [name, key, JSON.stringify(record)],
        );
        await appendOutbox(c, events);
      });
      written(events.length);
    },
    list: (prefix = '') =>
      keyset(
        (after, limit) =>
          pool.query<{ key: string; record: T }>(
            'SELECT key, record FROM records WHERE store = $1 AND key >= $2 AND ($3::text IS NULL OR key > $3) AND starts_with(key, $2) ORDER BY key LIMIT $4',
            [name, prefix, after ?? null, limit],
          ),
        (row) => row.key,
      ),
  };
}
