import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http } from '../support/client.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const admin = { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` };

describe('routing: drain and undrain a region (GET/PUT /georeg/v1/routing)', function () {
  this.timeout(20_000);
  let dir: string;
  let node: TestNode;

  const start = async (): Promise<TestNode> => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    try {
      return await startTestNode({ region: 'eu', auth: { enabled: true } }, join(dir, 'data'));
    } finally {
      delete process.env.GEOREG_ADMIN_PASSWORD;
    }
  };
  const routing = async (): Promise<{ region: string; drained: boolean; reason?: string }> => {
    const res = await http('GET', `${node.url}${apiPaths.routing()}`);
    assert.equal(res.status, 200);
    return res.json();
  };
  const put = (body: string, headers: Record<string, string> = admin) =>
    http('PUT', `${node.url}${apiPaths.routing()}`, { body, headers: { ...headers, 'Content-Type': 'application/json' } });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-routing-'));
    node = await start();
  });
  after(async () => {
    await node?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts in routing, and names the region that served on every answer, errors too', async () => {
    assert.deepEqual(await routing(), { region: 'eu', drained: false, at: '' });
    const res = await http('GET', `${node.url}${apiPaths.health()}`);
    assert.equal(res.header('georeg-region'), 'eu');
    const missing = await http('GET', `${node.url}/no/such/route`);
    assert.equal(missing.status, 404);
    assert.equal(missing.header('georeg-region'), 'eu');
  });

  it('says where a client address is sent (no placement here: served where it asks), and refuses what is not an address', async () => {
    const res = await http('GET', `${node.url}${apiPaths.routing()}?client=10.1.2.3`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json<{ client: unknown }>().client, { address: '10.1.2.3', region: 'eu', sentTo: 'eu', reason: 'unplaced' });
    expectError(await http('GET', `${node.url}${apiPaths.routing()}?client=eu.example`), 400, 'ROUTING_INVALID');
  });

  it('drains only for an administrator, with a body that says what it wants', async () => {
    expectError(await put('{"drained":true}', {}), 401, 'UNAUTHORIZED');
    expectError(await put('drain please'), 400, 'ROUTING_INVALID');
    expectError(await put('{"drained":"yes"}'), 400, 'ROUTING_INVALID');
    expectError(await put('{"drained":true,"reason":"line one\\nline two"}'), 400, 'ROUTING_INVALID');
    assert.equal((await routing()).drained, false);
  });

  it('stays drained across a restart, and comes back when undrained', async () => {
    const res = await put('{"drained":true,"reason":"disk swap"}');
    assert.equal(res.status, 200);
    assert.deepEqual({ ...(await routing()), at: undefined }, { region: 'eu', drained: true, reason: 'disk swap', at: undefined });
    assert.equal((await http('GET', `${node.url}${apiPaths.replication()}`)).json<{ drained: boolean }>().drained, true);
    await node.close();
    node = await start();
    assert.equal((await routing()).drained, true, 'still drained after a restart');
    assert.equal((await put('{"drained":false}')).status, 200);
    assert.equal((await routing()).drained, false);
  });
});
