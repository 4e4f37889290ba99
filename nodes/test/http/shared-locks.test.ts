import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { createTestDatabase, type TestDatabase } from 'georeg/test-support';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushImage, type PushedImage } from '../support/client.js';

/**
 * Two nodes of a region over one PostgreSQL database: a lock set through one is enforced by the
 * other at once, before it reads the locks into memory again (which it does within a second).
 */
describe('locks set through one node of a region, enforced by another at once', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let a: TestNode;
  let b: TestNode;
  let image: PushedImage;

  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());
  beforeEach(async () => {
    const meta = { driver: 'postgres' as const, postgres: { url: await db.schema(), urlFile: '', poolSize: 4 } };
    [a, b] = [await startTestNode({ meta }), await startTestNode({ meta })];
    image = await pushImage(a.url, 'team/app', 'v1');
    await pushImage(a.url, 'team/app', 'v2');
    // B reads the locks into memory (none yet), as a node serving requests has.
    assert.equal((await http('GET', `${b.url}${apiPaths.acrRepository('team/app')}`)).status, 200);
  });
  afterEach(async () => {
    await a?.close();
    await b?.close();
  });

  const lock = async (path: string, attributes: Record<string, boolean>): Promise<void> => {
    const res = await http('PATCH', `${a.url}${path}`, {
      body: Buffer.from(JSON.stringify(attributes)),
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(res.status, 200, res.body.toString());
  };

  const locked = (res: Awaited<ReturnType<typeof http>>, key: string, attribute: string): void => {
    const e = expectError(res, 423, 'DENIED');
    assert.deepEqual(e?.detail, { lock: key, attribute });
  };

  it('a manifest locked against deletes through A is not deleted through B', async () => {
    await lock(apiPaths.acrManifest('team/app', image.digest), { deleteEnabled: false });
    locked(await http('DELETE', `${b.url}${apiPaths.manifest('team/app', image.digest)}`), `team/app@${image.digest}`, 'deleteEnabled');
    assert.equal((await http('GET', `${a.url}${apiPaths.manifest('team/app', 'v1')}`)).status, 200, 'still there');
  });

  it('a tag locked against deletes through A keeps B from deleting its repository', async () => {
    await lock(apiPaths.acrTag('team/app', 'v2'), { deleteEnabled: false });
    const e = expectError(await http('DELETE', `${b.url}${apiPaths.acrRepository('team/app')}`), 423, 'DENIED');
    assert.match(e?.message ?? '', /team\/app:v2/);
    assert.deepEqual((await http('GET', `${b.url}${apiPaths.tags('team/app')}`)).json(), { name: 'team/app', tags: ['v1', 'v2'] });
  });

  it('a repository locked against writes through A refuses an upload and a push through B', async () => {
    await lock(apiPaths.acrRepository('team/app'), { writeEnabled: false });
    locked(await http('POST', `${b.url}${apiPaths.uploads('team/app')}`), 'team/app', 'writeEnabled');
    const put = await http('PUT', `${b.url}${apiPaths.manifest('team/app', 'v3')}`, {
      body: image.manifest,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    locked(put, 'team/app', 'writeEnabled');
  });
});
