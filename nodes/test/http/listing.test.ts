import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, nextLink, pushImage } from '../support/client.js';

describe('http: tags list and catalog', () => {
  let node: TestNode;
  let url: (path: string) => string;
  // Pushed out of order; mixed case and digits to check lexical (byte) order.
  const tags = ['v2', 'latest', 'v10', 'Beta', 'alpha', 'v1', '1.0', 'v1.1', '_x', 'ALPHA', 'v1-rc'];
  const sorted = [...tags].sort();
  const repos = ['list/zeta', 'list/alpha', 'list/alpha/nested', 'list/m-i_d', 'list/b'];
  let untagged: string;

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
    const { manifest } = await pushImage(node.url, 'list/tags', tags[0] ?? '');
    for (const t of tags.slice(1)) {
      const res = await http('PUT', url(`/v2/list/tags/manifests/${t}`), {
        body: manifest,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(res.status, 201);
    }
    for (const r of repos) await pushImage(node.url, r, 'latest');
    untagged = (await pushImage(node.url, 'list/untagged', 'only')).digest;
  });
  after(async () => {
    await node.close();
  });

  /** Follow `Link` headers from `first`; returns every page's items. */
  async function walk(first: string, key: 'tags' | 'repositories'): Promise<string[][]> {
    const pages: string[][] = [];
    let next: string | undefined = first;
    while (next !== undefined) {
      assert.ok(pages.length < 50, 'pagination does not end');
      const res = await http('GET', url(next));
      assert.equal(res.status, 200, res.body.toString());
      pages.push(res.json<Record<string, string[]>>()[key] ?? []);
      next = nextLink(res);
      if (next !== undefined) assert.match(next, /^\/v2\//, 'Link must be a path on this registry');
    }
    return pages;
  }

  describe('tags list', () => {
    it('lists every tag sorted lexically', async () => {
      const res = await http('GET', url('/v2/list/tags/tags/list'));
      assert.equal(res.status, 200);
      assert.match(res.header('content-type') ?? '', /^application\/json/);
      assert.deepEqual(res.json(), { name: 'list/tags', tags: sorted });
      assert.equal(res.header('link'), undefined);
    });

    it('n limits the page and a Link header points at the next page', async () => {
      const res = await http('GET', url('/v2/list/tags/tags/list?n=3'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json<{ tags: string[] }>().tags, sorted.slice(0, 3));
      const next = nextLink(res);
      assert.ok(next);
      const q = new URL(next, node.url).searchParams;
      assert.equal(q.get('n'), '3');
      assert.equal(q.get('last'), sorted[2]);
    });

    for (const n of [1, 2, 3, 4, 5, tags.length - 1, tags.length, tags.length + 1]) {
      it(`walking pages of n=${n} with Link yields every tag once, in order`, async () => {
        const pages = await walk(`/v2/list/tags/tags/list?n=${n}`, 'tags');
        for (const p of pages) assert.ok(p.length <= n);
        assert.deepEqual(pages.flat(), sorted);
        assert.equal(pages.length, Math.max(1, Math.ceil(tags.length / n)));
      });
    }

    it('last without n lists the tags after it', async () => {
      const res = await http('GET', url(`/v2/list/tags/tags/list?last=${encodeURIComponent(sorted[4] ?? '')}`));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json<{ tags: string[] }>().tags, sorted.slice(5));
    });

    it('last that is not a tag lists the tags lexically after it', async () => {
      const res = await http('GET', url('/v2/list/tags/tags/list?n=2&last=u'));
      assert.deepEqual(res.json<{ tags: string[] }>().tags, ['v1', 'v1-rc']);
    });

    it('last after every tag answers an empty list without a Link', async () => {
      const res = await http('GET', url('/v2/list/tags/tags/list?n=5&last=zzz'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json<{ tags: string[] }>().tags, []);
      assert.equal(res.header('link'), undefined);
    });

    it('n=0 answers an empty list without a Link', async () => {
      const res = await http('GET', url('/v2/list/tags/tags/list?n=0'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { name: 'list/tags', tags: [] });
      assert.equal(res.header('link'), undefined);
    });

    it('an unknown repository answers 404 NAME_UNKNOWN', async () => {
      expectError(await http('GET', url('/v2/list/nope/tags/list')), 404, 'NAME_UNKNOWN');
    });

    it('a repository whose tags were all deleted lists no tags', async () => {
      assert.equal((await http('DELETE', url('/v2/list/untagged/manifests/only'))).status, 202);
      const res = await http('GET', url('/v2/list/untagged/tags/list'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json<{ tags: string[] }>().tags, []);
      assert.equal((await http('GET', url(`/v2/list/untagged/manifests/${untagged}`))).status, 200);
    });

    for (const n of ['-1', 'abc', '1.5', '1e3', '', '99999999999', '0x10']) {
      it(`invalid n=${JSON.stringify(n)} answers 400`, async () => {
        expectError(await http('GET', url(`/v2/list/tags/tags/list?n=${n}`)), 400, 'PAGINATION_NUMBER_INVALID');
      });
    }
  });

  describe('catalog', () => {
    const all = [...repos, 'list/tags', 'list/untagged'].sort();

    it('lists every repository sorted lexically', async () => {
      const res = await http('GET', url('/v2/_catalog'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { repositories: all });
      assert.equal(res.header('link'), undefined);
    });

    for (const n of [1, 2, 3, 100]) {
      it(`walking pages of n=${n} with Link yields every repository once, in order`, async () => {
        const pages = await walk(`/v2/_catalog?n=${n}`, 'repositories');
        for (const p of pages) assert.ok(p.length <= n);
        assert.deepEqual(pages.flat(), all);
      });
    }

    it('last skips to the repositories after it', async () => {
      const res = await http('GET', url('/v2/_catalog?n=2&last=list/alpha'));
      assert.deepEqual(res.json<{ repositories: string[] }>().repositories, all.slice(all.indexOf('list/alpha') + 1).slice(0, 2));
      assert.ok(nextLink(res));
    });

    it('n=0 answers an empty list', async () => {
      const res = await http('GET', url('/v2/_catalog?n=0'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { repositories: [] });
      assert.equal(res.header('link'), undefined);
    });

    for (const n of ['-5', 'ten', '100000000000']) {
      it(`invalid n=${n} answers 400`, async () => {
        expectError(await http('GET', url(`/v2/_catalog?n=${n}`)), 400, 'PAGINATION_NUMBER_INVALID');
      });
    }
  });
});
