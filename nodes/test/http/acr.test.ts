import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { silentLogger } from '../../src/log.js';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, nextLink, pushBlob, pushImage, type PushedImage } from '../support/client.js';

describe('http: /acr/v1 (ACR metadata API) and locks, authentication off', () => {
  let node: TestNode;
  let url: (path: string) => string;
  let v1: PushedImage;
  const patch = (path: string, body: unknown): ReturnType<typeof http> =>
    http('PATCH', url(path), { body: Buffer.from(JSON.stringify(body)), headers: { 'Content-Type': 'application/json' } });

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
    v1 = await pushImage(node.url, 'acr/app', 'v1');
    await pushImage(node.url, 'acr/app', 'v2');
    await pushImage(node.url, 'acr/other', 'latest');
  });
  after(() => node.close());

  it("keeps every query parameter in the next page's Link, and the page size", async () => {
    const first = await http('GET', url(`${apiPaths.acrTags('acr/app')}?api-version=2021-07-01&n=1&orderby=timeasc`));
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.json<{ tags: { name: string }[] }>().tags.map((t) => t.name),
      ['v1'],
    );
    const next = nextLink(first) ?? '';
    const q = new URLSearchParams(next.slice(next.indexOf('?')));
    assert.deepEqual(Object.fromEntries(q), { 'api-version': '2021-07-01', n: '1', orderby: 'timeasc', last: 'v1' });
    const second = await http('GET', url(next));
    assert.deepEqual(
      second.json<{ tags: { name: string }[] }>().tags.map((t) => t.name),
      ['v2'],
    );
    assert.equal(nextLink(second), undefined, 'no page after the last');
  });

  it('lists only the tags of one manifest with ?digest=', async () => {
    const res = await http('GET', url(`${apiPaths.acrTags('acr/app')}?digest=${v1.digest}`));
    assert.deepEqual(
      res.json<{ tags: { name: string; digest: string }[] }>().tags.map((t) => [t.name, t.digest]),
      [['v1', v1.digest]],
    );
  });

  it('refuses a bad orderby, page size or cursor with PAGINATION_NUMBER_INVALID, and an unknown repository with NAME_UNKNOWN', async () => {
    expectError(await http('GET', url(`${apiPaths.acrTags('acr/app')}?orderby=name`)), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await http('GET', url(`${apiPaths.acrManifests('acr/app')}?n=-1`)), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await http('GET', url(`${apiPaths.acrTags('acr/app')}?orderby=timedesc&last=gone`)), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await http('GET', url(apiPaths.acrRepository('acr/none'))), 404, 'NAME_UNKNOWN');
    expectError(await http('GET', url(apiPaths.acrTag('acr/app', 'none'))), 404, 'MANIFEST_UNKNOWN');
  });

  it('refuses attributes that are not a JSON object of known booleans, naming what is wrong, and changes nothing', async () => {
    const path = apiPaths.acrRepository('acr/app');
    const bad: [unknown, RegExp][] = [
      [{ writeEnabled: 'no' }, /writeEnabled must be true or false/],
      [{ frozen: true }, /unknown attribute frozen/],
      [[true], /JSON object/],
    ];
    for (const [body, why] of bad) {
      const e = expectError(await patch(path, body), 400, 'ATTRIBUTES_INVALID');
      assert.match(e?.message ?? '', why);
    }
    const notJson = await http('PATCH', url(path), { body: Buffer.from('{') });
    expectError(notJson, 400, 'ATTRIBUTES_INVALID');
    const held = (await http('GET', url(path))).json<{ changeableAttributes: Record<string, boolean> }>();
    assert.deepEqual(held.changeableAttributes, { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true });
  });

  it('a repository locked against writes refuses an upload and a manifest push (423 DENIED, naming the lock)', async () => {
    await patch(apiPaths.acrRepository('acr/other'), { writeEnabled: false });
    const start = await http('POST', url(apiPaths.uploads('acr/other')));
    const e = expectError(start, 423, 'DENIED');
    assert.match(e?.message ?? '', /acr\/other is locked: it cannot be written \(writeEnabled is false/);
    await assert.rejects(pushBlob(node.url, 'acr/other', 'a new layer'));
    await patch(apiPaths.acrRepository('acr/other'), { writeEnabled: true });
    await pushImage(node.url, 'acr/other', 'after');
  });

  it('a repository locked against reads refuses blob and manifest GETs, not a HEAD (a pushing client asks it)', async () => {
    await patch(apiPaths.acrRepository('acr/app'), { readEnabled: false });
    expectError(await http('GET', url(apiPaths.blob('acr/app', v1.config))), 423, 'DENIED');
    expectError(await http('GET', url(apiPaths.manifest('acr/app', 'v1'))), 423, 'DENIED');
    assert.equal((await http('HEAD', url(apiPaths.blob('acr/app', v1.config)))).status, 200);
    await patch(apiPaths.acrRepository('acr/app'), { readEnabled: true });
    assert.equal((await http('GET', url(apiPaths.manifest('acr/app', 'v1')))).status, 200);
  });

  it('a repository locked against listing leaves both catalogs; its content is still served', async () => {
    await patch(apiPaths.acrRepository('acr/other'), { listEnabled: false });
    assert.deepEqual((await http('GET', url(apiPaths.catalog()))).json<{ repositories: string[] }>().repositories, ['acr/app']);
    assert.deepEqual((await http('GET', url(apiPaths.acrCatalog()))).json<{ repositories: string[] }>().repositories, ['acr/app']);
    const paged = await http('GET', url(`${apiPaths.catalog()}?n=1`));
    assert.deepEqual(paged.json<{ repositories: string[] }>().repositories, ['acr/app']);
    assert.equal((await http('GET', url(apiPaths.manifest('acr/other', 'latest')))).status, 200);
    await patch(apiPaths.acrRepository('acr/other'), { listEnabled: true });
  });

  it('GC keeps the unreferenced blobs of a repository locked against deletes', async () => {
    const loose = await pushBlob(node.url, 'acr/other', 'an upload no manifest references');
    await patch(apiPaths.acrRepository('acr/other'), { deleteEnabled: false });
    const report = await node.registry.gc.collect({ dryRun: false, graceMs: 0, uploadMaxAgeMs: 60_000 }, silentLogger);
    assert.equal((await http('HEAD', url(apiPaths.blob('acr/other', loose)))).status, 200, JSON.stringify(report));
    expectError(await http('DELETE', url(apiPaths.acrRepository('acr/other'))), 423, 'DENIED');
    await patch(apiPaths.acrRepository('acr/other'), { deleteEnabled: true });
    const deleted = await http('DELETE', url(apiPaths.acrRepository('acr/other')));
    assert.equal(deleted.status, 202);
    assert.deepEqual(deleted.json<{ tagsDeleted: string[] }>().tagsDeleted, ['after', 'latest']);
    expectError(await http('GET', url(apiPaths.acrRepository('acr/other'))), 404, 'NAME_UNKNOWN');
  });
});
