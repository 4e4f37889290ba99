import type { Level } from 'level';
import type { RecordStoreName } from './store.js';

/**
 * The previous release kept registry-wide records as settings, `s!<key>` → the
 * record as a JSON string; they now live in the named record stores,
 * `n!<store>!<key>` → the record. `migrateSettings` moves them at open, in one
 * batch (a crash leaves either layout whole), and finds nothing to do after.
 */
interface Move {
  /** A setting key, or a prefix of them (ending in '/'). */
  from: string;
  store: RecordStoreName;
  /** The record's key in its store, from the rest of the setting key after `from`. */
  key: (rest: string) => string;
  /** The record, from the stored setting. */
  record: (value: string) => unknown;
}

const MOVES: Move[] = [
  { from: 'trust/policy', store: 'policies', key: () => 'document', record: JSON.parse },
  { from: 'trust/policy-seed', store: 'policies', key: () => 'seed', record: (sha256) => ({ sha256 }) },
  { from: 'trust/bindings/', store: 'bindings', key: (repoTag) => repoTag, record: JSON.parse },
  { from: 'auth/user/', store: 'identities', key: (name) => `auth/user/${name}`, record: JSON.parse },
  { from: 'auth/token/', store: 'identities', key: (name) => `auth/token/${name}`, record: JSON.parse },
];

/** The move of a setting key: an exact key, else a prefix ending in '/'. */
function moveOf(settingKey: string): { move: Move; rest: string } | undefined {
  const move = MOVES.find((m) => (m.from.endsWith('/') ? settingKey.startsWith(m.from) : settingKey === m.from));
  return move && { move, rest: settingKey.slice(move.from.length) };
}

/** Move every setting into its record store, whose keys `recordKey` makes. */
export async function migrateSettings(
  db: Level<string, unknown>,
  recordKey: (store: RecordStoreName, key: string) => string,
): Promise<void> {
  const ops: ({ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string })[] = [];
  for await (const [k, value] of db.iterator({ gte: 's!', lt: 's"' })) {
    const found = moveOf(k.slice(2));
    if (!found) {
      throw new Error(
        `metadata holds a setting this release does not know (${k.slice(2)}): nothing was changed; ` +
          'open this data directory with the georeg release that wrote it',
      );
    }
    const { move, rest } = found;
    ops.push({ type: 'put', key: recordKey(move.store, move.key(rest)), value: move.record(value as string) }, { type: 'del', key: k });
  }
  if (ops.length) await db.batch(ops);
}
