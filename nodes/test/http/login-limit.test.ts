import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, type Res } from '../support/client.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const CI_PASSWORD = 'the pipeline password';

describe('failed logins behind one address (issue 14)', function () {
  this.timeout(30_000);
  let node: TestNode;

  const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  const tokenGet = (user: string, password: string): Promise<Res> =>
    http('GET', `${node.url}/oauth2/token?service=georeg`, { headers: basic(user, password) });

  before(async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    const created = await http('POST', `${node.url}/georeg/v1/auth/users`, {
      headers: basic('admin', ADMIN_PASSWORD),
      body: JSON.stringify({ name: 'ci', password: CI_PASSWORD }),
    });
    assert.equal(created.status, 201, created.body.toString());
  });
  after(() => node.close());

  it("a burst of correct logins of one name from one address all succeed (a CI job's parallel pulls)", async () => {
    const statuses = (await Promise.all(Array.from({ length: 30 }, () => tokenGet('admin', ADMIN_PASSWORD)))).map((r) => r.status);
    assert.deepEqual(statuses, Array(30).fill(200));
  });

  it('20 failures of `ci` lock out `ci` with Retry-After, and not the administrator at the same address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await tokenGet('ci', `wrong ${i}`)).status);
    assert.deepEqual(statuses, [...Array(10).fill(401), ...Array(10).fill(429)]);

    const locked = await tokenGet('ci', CI_PASSWORD);
    expectError(locked, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(locked.header('retry-after')) >= 1, `Retry-After: ${locked.header('retry-after')}`);

    // The administrator logs in from the same address, on every login path: GET and POST /oauth2/token, Basic on an admin route.
    assert.equal((await tokenGet('admin', ADMIN_PASSWORD)).status, 200);
    const form = new URLSearchParams({ grant_type: 'password', service: 'georeg', username: 'admin', password: ADMIN_PASSWORD }).toString();
    const posted = await http('POST', `${node.url}/oauth2/token`, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    assert.equal(posted.status, 200, posted.body.toString());
    const users = await http('GET', `${node.url}/georeg/v1/auth/users`, { headers: basic('admin', ADMIN_PASSWORD) });
    assert.equal(users.status, 200, users.body.toString());
  });
});
