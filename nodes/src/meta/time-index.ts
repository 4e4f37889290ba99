import type { Level } from 'level';
import { oci } from 'georeg/oci';
import type { HlcTimestamp } from '../hlc.js';
import type { ManifestRecord, TimePage } from './store.js';

/** When a tag was created and last moved here (ms since epoch): the value of its g! key. */
export interface TagTimes {
  created: number;
  updated: number;
}

/** The key layout's version: 2 added tag times (g!) and the time indexes (T!, M!). */
export const SCHEMA = 2;
const SCHEMA_KEY = 'v!schema';
/** Keys written per batch while building the indexes. */
const BATCH = 1000;

type KeyOf = (...parts: string[]) => string;
type RangeOf = (...prefix: string[]) => { gte: string; lt: string };

/** The key of a time index entry: `<index>!<repo>!<13-digit ms>!<name>`, so key order is time order, then name. */
export function timeKey(key: KeyOf, index: 'T' | 'M', repo: string, ms: number, name: string): string {
  return key(index, repo, String(ms).padStart(13, '0'), name);
}

/**
 * Build what a version-1 store lacks: tag times (a tag's last clock, else now, for both) and the
 * time-order entries of tags and manifests (a manifest's `created`). Batches are idempotent and
 * the version is written last, so a crash midway builds again at the next open. A store of a
 * later version than this release knows is refused, unchanged.
 */
export async function migrateTimeIndex(db: Level<string, unknown>, { key, range }: { key: KeyOf; range: RangeOf }): Promise<void> {
  const version = (await db.get(SCHEMA_KEY)) as number | undefined;
  if (version === SCHEMA) return;
  if (version !== undefined && version > SCHEMA) {
    throw new Error(`metadata is of layout ${version}, newer than this release's ${SCHEMA}: open it with the georeg release that wrote it`);
  }
  let ops: { type: 'put'; key: string; value: unknown }[] = [];
  const flush = async (): Promise<void> => {
    if (ops.length) await db.batch(ops);
    ops = [];
  };
  const now = Date.now();
  const tags = range('t');
  for await (const k of db.keys(tags)) {
    const [repo, tag] = splitLast(k.slice(tags.gte.length));
    const clock = (await db.get(key('h', repo, tag))) as HlcTimestamp | undefined;
    const at = clock?.wallMs ?? now;
    ops.push(
      { type: 'put', key: key('g', repo, tag), value: { created: at, updated: at } },
      { type: 'put', key: timeKey(key, 'T', repo, at, tag), value: true },
    );
    if (ops.length >= BATCH) await flush();
  }
  const manifests = range('m');
  for await (const [k, value] of db.iterator(manifests)) {
    const [repo, digest] = splitLast(k.slice(manifests.gte.length));
    const record = value as ManifestRecord;
    ops.push({ type: 'put', key: timeKey(key, 'M', repo, record.updated ?? record.created, digest), value: true });
    if (ops.length >= BATCH) await flush();
  }
  await flush();
  await db.put(SCHEMA_KEY, SCHEMA);
}

/** `<repo>!<last>` split at its last separator (repository names never hold '!'). */
function splitLast(rest: string): [string, string] {
  const at = rest.lastIndexOf('!');
  return [rest.slice(0, at), rest.slice(at + 1)];
}

/** A page of `items` in time order (then name), after the item `page.after` names: the in-memory form of the time indexes. */
export function pageByTime<T>(items: T[], time: (item: T) => number, name: (item: T) => string, page: TimePage): T[] {
  const cmp = (a: T, b: T): number => time(a) - time(b) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);
  const sorted = items.sort((a, b) => (page.order === 'asc' ? cmp(a, b) : cmp(b, a)));
  if (page.after === undefined) return sorted.slice(0, page.n);
  const at = sorted.findIndex((i) => name(i) === page.after);
  if (at < 0) throw notHere(page.after);
  return sorted.slice(at + 1, at + 1 + page.n);
}

/** The error for a page that is to continue after an item no longer there. */
export function notHere(after: string): Error {
  return oci('PAGINATION_INVALID', `${after} is no longer here to continue after: list again from the start`);
}
