import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { closedPort } from 'georeg/test-support';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http } from '../support/client.js';
import { TestNats } from '../support/nats.js';
import type { ReplicationStatusSource } from '../../src/status.js';

/** us, with eu as a peer: upload sessions are region-qualified, and eu's are forwarded to eu's public URL. */
describe('upload sessions of another region: forwarded, or a clear BLOB_UPLOAD_UNKNOWN when that region does not answer', function () {
  this.timeout(20_000);
  let nats: TestNats;
  let us: TestNode;
  let euUrl: string | undefined;

  before(async () => {
    nats = await TestNats.start();
    us = await startTestNode({ region: 'us', nats: { url: nats.url }, replication: { peers: 'eu=127.0.0.1:1' } });
    const none = async () => ({ fetched: false, unreachable: [] });
    us.status.replication = {
      peers: async () => [],
      views: async () => [],
      streamBlob: async () => undefined,
      locate: async () => [],
      findBlob: async () => undefined,
      fetch: none,
      fetchReferences: none,
      publicUrlOf: (region) => (region === 'eu' ? euUrl : undefined),
    } satisfies ReplicationStatusSource;
  });
  after(async () => {
    await us?.close();
    await nats?.destroy();
  });

  it('names its own sessions by region and serves them here', async () => {
    const started = await http('POST', `${us.url}${apiPaths.uploads('team/app')}`);
    assert.equal(started.status, 202);
    const id = started.header('docker-upload-uuid') ?? '';
    assert.match(id, /^us\.[A-Za-z0-9_-]+$/);
    assert.equal((await http('GET', `${us.url}${apiPaths.upload('team/app', id)}`)).status, 204);
  });

  it('answers BLOB_UPLOAD_UNKNOWN, not a 500, for a session of a region that cannot be reached or does not answer', async () => {
    const path = apiPaths.upload('team/app', 'eu.AAAAAAAAAAAAAAAAAAAAAAAA');
    euUrl = undefined;
    const unknown = await http('PATCH', `${us.url}${path}`, { body: Buffer.from('chunk') });
    expectError(unknown, 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.match(unknown.body.toString(), /belongs to region eu, which cannot be reached now/);
    euUrl = `http://127.0.0.1:${await closedPort()}`;
    const refused = await http('PATCH', `${us.url}${path}`, { body: Buffer.from('chunk') });
    expectError(refused, 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.match(refused.body.toString(), /belongs to region eu, which did not answer/);
    assert.equal((await http('GET', `${us.url}${apiPaths.health()}`)).status, 200, 'the node is still up');
  });
});
