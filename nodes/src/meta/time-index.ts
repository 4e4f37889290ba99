import { oci } from 'georeg/oci';
import type { TimePage } from './store.js';

/** When a tag was created and last moved here (ms since epoch): the value of its g! key. */
export interface TagTimes {
  created: number;
  updated: number;
}

export type KeyOf = (...parts: string[]) => string;

/** The key of a time index entry: `<index>!<repo>!<13-digit ms>!<name>`, so key order is time order, then name. */
export function timeKey(key: KeyOf, index: 'T' | 'M', repo: string, ms: number, name: string): string {
  return key(index, repo, String(ms).padStart(13, '0'), name);
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
