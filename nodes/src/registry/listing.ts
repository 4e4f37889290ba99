import { oci, type Digest, type Descriptor } from 'georeg/oci';
import type { MetaStore, Page } from '../meta/store.js';
import type { Locks } from './locks.js';

export interface Listed {
  items: string[];
  /** True when a next page may exist (the page came back full). */
  more: boolean;
}

/** Read-only listings: tags, repositories and referrers; what a lock hides (listEnabled false) is left out. */
export class ListingService {
  constructor(
    private readonly meta: MetaStore,
    private readonly locks: Locks,
  ) {}

  async tags(repo: string, page: Page): Promise<Listed> {
    if (!(await this.meta.hasRepository(repo))) throw oci('NAME_UNKNOWN', undefined, { name: repo });
    return this.paged(
      page,
      (p) => this.meta.listTags(repo, p),
      (tag) => this.locks.listed({ repository: repo, tag }),
    );
  }

  async repositories(page: Page): Promise<Listed> {
    return this.paged(
      page,
      (p) => this.meta.listRepositories(p),
      (repository) => this.locks.listed({ repository }),
    );
  }

  /** Referrers of `subject`, optionally only those of one artifact type. */
  async referrers(repo: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const all = await this.meta.listReferrers(repo, subject);
    return artifactType === undefined ? all : all.filter((d) => d.artifactType === artifactType);
  }

  private paged(page: Page, list: (p: Page) => Promise<string[]>, shown: (item: string) => Promise<boolean>): Promise<Listed> {
    return fillPage(
      page,
      (last, n) => list({ last, n }),
      (item) => item,
      shown,
    );
  }
}

/**
 * A page (`page.n` items after `page.last`; all when `n` is undefined) of what `fetch` lists that
 * `shown` lets through, read in batches past hidden items until full; `more` when items remain.
 */
export async function fillPage<T>(
  page: Page,
  fetch: (last: string | undefined, n: number | undefined) => Promise<T[]>,
  key: (item: T) => string,
  shown: (item: T) => Promise<boolean>,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let last = page.last;
  for (;;) {
    const want = page.n === undefined ? undefined : page.n - items.length + 1;
    const batch = await fetch(last, want);
    for (const item of batch) if (await shown(item)) items.push(item);
    const end = batch[batch.length - 1];
    if ((page.n !== undefined && items.length > page.n) || want === undefined || batch.length < want || end === undefined) break;
    last = key(end);
  }
  const more = page.n !== undefined && items.length > page.n;
  return { items: more ? items.slice(0, page.n) : items, more };
}
