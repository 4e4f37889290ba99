import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../support/harness.js';
import { http } from '../support/client.js';

describe('http: base endpoint', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
  });
  after(async () => {
    await node.close();
  });

  it('GET /v2/ answers 200 with Docker-Distribution-API-Version', async () => {
    const res = await http('GET', `${node.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(res.json(), {});
  });

  it('GET /v2 (no trailing slash) answers 200 too', async () => {
    const res = await http('GET', `${node.url}/v2`);
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
  });

  it('HEAD /v2/ answers 200 without a body', async () => {
    const res = await http('HEAD', `${node.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
  });

  it('every response carries an X-Request-Id, echoing a well-formed one', async () => {
    const own = await http('GET', `${node.url}/v2/`, { headers: { 'X-Request-Id': 'test-req-42' } });
    assert.equal(own.header('x-request-id'), 'test-req-42');
    const generated = await http('GET', `${node.url}/v2/`, { headers: { 'X-Request-Id': 'bad id with spaces' } });
    assert.ok(generated.header('x-request-id'));
    assert.notEqual(generated.header('x-request-id'), 'bad id with spaces');
  });
});
