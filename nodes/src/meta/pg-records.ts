import type { Db } from './pg-db.js';
import { isTreeRecordStore } from './digest-tree.js';
import type { RecordPutOptions, RecordStore, RecordStoreName } from './store.js';
import { appendOutbox, lockRecord, transaction } from './pg-transaction.js';
import { changeRecordHash } from './pg-tree.js';
import { keyset } from './pg-rows.js';

/**
 * A named record store in the `records` table. A put of a replicated store's record (policies,
 * identities, locks), and a conditional one (`wins`), takes the key's lock, so the record it
 * compares and replaces in the digest tree is the one held, whichever node writes. `written` is
 * told how many events each put appended.
 */
export function pgRecordStore<T>(pool: Db, name: RecordStoreName, written: (events: number) => void): RecordStore<T> {
  return {
    get: async (key) => {
      const { rows } = await pool.query<{ record: T }>('SELECT record FROM records WHERE store = $1 AND key = $2', [name, key]);
      return rows[0]?.record;
    },
    put: async (key: string, record: T, opts: RecordPutOptions<T> = {}) => {
      const events = opts.events ?? [];
      const tree = isTreeRecordStore(name);
      const stored = await transaction(pool, async (c) => {
        if (tree || opts.wins) {
          await lockRecord(c, name, key);
          const { rows } = await c.query<{ record: T }>('SELECT record FROM records WHERE store = $1 AND key = $2', [name, key]);
          const held = rows[0]?.record;
          if (opts.wins && !opts.wins(held)) return false;
          if (tree) await changeRecordHash(c, name, key, held, record);
        }
        await c.query(
          'INSERT INTO records (store, key, record) VALUES ($1, $2, $3) ON CONFLICT (store, key) DO UPDATE SET record = EXCLUDED.record',
          [name, key, JSON.stringify(record)],
        );
        await appendOutbox(c, events);
        return true;
      });
      if (stored) written(events.length);
      return stored;
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
