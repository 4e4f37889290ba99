import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from 'georeg/test-support';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushImage, type PushedImage } from '../support/client.js';

describe('a node whose PostgreSQL metadata database is out of reach', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let proxy: TcpProxy;
  let node: TestNode;
  let image: PushedImage;

  before(async () => {
    db = await createTestDatabase();
    proxy = await startTcpProxy(db.url);
    const url = proxy.via(await db.schema());
    node = await startTestNode({ meta: { driver: 'postgres', postgres: { url, urlFile: '', poolSize: 4 } } });
    image = await pushImage(node.url, 'team/app', 'v1');
    await proxy.cut(); // every connection closed, every new one refused
  });
  after(async () => {
    await node?.close();
    await db?.drop();
  });

  const unavailable = (res: Awaited<ReturnType<typeof http>>): void => {
    const e = expectError(res, 503, 'UNAVAILABLE');
    assert.match(e?.message ?? '', /the metadata database is unreachable/);
    assert.equal(res.header('retry-after'), '1');
  };

  it('answers a manifest GET and HEAD 503 UNAVAILABLE with a Retry-After', async () => {
    unavailable(await http('GET', `${node.url}${apiPaths.manifest('team/app', 'v1')}`));
    unavailable(await http('GET', `${node.url}${apiPaths.manifest('team/app', image.digest)}`));
    const head = await http('HEAD', `${node.url}${apiPaths.manifest('team/app', 'v1')}`);
    assert.equal(head.status, 503);
  });

  it('answers a manifest PUT, a tag list and an upload 503 UNAVAILABLE', async () => {
    const put = await http('PUT', `${node.url}${apiPaths.manifest('team/app', 'v2')}`, {
      body: image.manifest,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    unavailable(put);
    unavailable(await http('GET', `${node.url}${apiPaths.tags('team/app')}`));
    unavailable(await http('POST', `${node.url}${apiPaths.uploads('team/app')}`));
  });

  it('still answers its metrics, status and health', async () => {
    const metrics = await http('GET', `${node.url}${apiPaths.metrics()}`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body.toString(), /georeg_outbox_depth/);
    assert.equal((await http('GET', `${node.url}${apiPaths.replication()}`)).status, 200);
    assert.equal((await http('GET', `${node.url}${apiPaths.health()}`)).status, 200);
  });
});
