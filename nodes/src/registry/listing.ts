import { oci, type Digest, type Descriptor } from 'georeg/oci';
import type { MetaStore, Page } from '../meta/store.js';

export interface Listed {
  items: string[];
  /** True when a next page may exist (the page came back full). */
  more: boolean;
}

/** Read-only listings: tags, repositories and referrers. */
export class ListingService {
  constructor(private readonly meta: MetaStore) {}

  async tags(repo: string, page: Page): Promise<Listed> {
    if (!(await this.meta.hasRepository(repo))) throw oci('NAME_UNKNOWN', undefined, { name: repo });
    return this.paged(page, (p) => this.meta.listTags(repo, p));
  }

  async repositories(page: Page): Promise<Listed> {
    return this.paged(page, (p) => this.meta.listRepositories(p));
  }

  /** Referrers of `subject`, optionally only those of one artifact type. */
  async referrers(repo: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const all = await this.meta.listReferrers(repo, subject);
    return artifactType === undefined ? all : all.filter((d) => d.artifactType === artifactType);
  }

  private async paged(page: Page, list: (p: Page) => Promise<string[]>): Promise<Listed> {
    if (page.n === undefined) return { items: await list(page), more: false };
    if (page.n === 0) return { items: [], more: false };
    const items = await list({ last: page.last, n: page.n + 1 });
    const more = items.length > page.n;
    return { items: more ? items.slice(0, page.n) : items, more };
  }
}
