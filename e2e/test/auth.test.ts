import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoregNode } from './support/process.js';
import { georegCli as georeg } from './support/serve.js';
import { Skopeo, skopeoFails } from './support/skopeo.js';

const ADMIN_PASSWORD = 'an administrator password';
const SMALL = '/tmp/lab-images/small:latest';

describe('authentication with real clients: skopeo --creds, the georeg user and token commands (e2e)', function () {
  this.timeout(120_000);
  let dir: string;
  let node: GeoregNode;
  let skopeo: Skopeo;
  let host: string;
  const admin = { GEOREG_PASSWORD: ADMIN_PASSWORD };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-auth-e2e-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    node = await GeoregNode.start({ env: { GEOREG_AUTH_ENABLED: 'true', GEOREG_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    host = node.url.replace('http://', '');
  });
  after(async () => {
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes and pulls with user credentials; refuses without them', async () => {
    const add = await georeg(
      ['user', 'add', 'dev', '--role', 'team/**:push', '--password-stdin', '--url', node.url],
      admin,
      'a developer password\n',
    );
    assert.equal(add.code, 0, add.stderr);
    await skopeo.run([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      'dev:a developer password',
      `oci:${SMALL}`,
      `docker://${host}/team/app:v1`,
    ]);
    await skopeo.run(['inspect', '--tls-verify=false', '--creds', 'dev:a developer password', `docker://${host}/team/app:v1`]);
    const anonymous = await skopeoFails(
      () => skopeo.run(['inspect', '--tls-verify=false', `docker://${host}/team/app:v1`]),
      'anonymous inspect',
    );
    assert.match(anonymous.stderr, /unauthorized|authentication required/i);
  });

  it('a pull-only token pulls, and its push is refused', async () => {
    const created = await georeg(['token', 'create', 'ci-pull', '--scope', 'team/**:pull', '--url', node.url], admin);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim().split('\n').pop() as string;
    const listed = await georeg(['token', 'list', '--url', node.url], admin);
    assert.match(listed.stdout, /ci-pull +team\/\*\*:pull +false +never/);
    assert.doesNotMatch(listed.stdout, new RegExp(secret));
    await skopeo.run([
      'copy',
      '--src-tls-verify=false',
      '--src-creds',
      `ci-pull:${secret}`,
      `docker://${host}/team/app:v1`,
      `oci:${join(dir, 'pulled')}:v1`,
    ]);
    const push = await skopeoFails(
      () =>
        skopeo.run([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `ci-pull:${secret}`,
          `oci:${SMALL}`,
          `docker://${host}/team/app:v2`,
        ]),
      'push with a pull-only token',
    );
    assert.match(push.stderr, /unauthorized|denied|authentication required/i);
    assert.equal((await georeg(['token', 'disable', 'ci-pull', '--url', node.url], admin)).code, 0);
    await skopeoFails(
      () => skopeo.run(['inspect', '--tls-verify=false', '--creds', `ci-pull:${secret}`, `docker://${host}/team/app:v1`]),
      'a disabled token',
    );
  });

  it('georeg push --sign and verify authenticate with GEOREG_CREDS; without it they fail clearly', async () => {
    assert.equal((await georeg(['key', 'generate', '--out', join(dir, 'signer')], {})).code, 0);
    const creds = { GEOREG_CREDS: 'dev:a developer password' };
    const pushed = await georeg(['push', SMALL, `${host}/team/signed:v1`, '--sign', '--key', join(dir, 'signer.key')], creds);
    assert.equal(pushed.code, 0, pushed.stderr);
    const verified = await georeg(['verify', `${host}/team/signed:v1`, '--key', join(dir, 'signer.pub')], creds);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /verified: signed by/);
    const anonymous = await georeg(['push', SMALL, `${host}/team/signed:v2`], {});
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /401 .*georeg login REGISTRY --username NAME --password-stdin/);
  });

  it('never writes a password, token secret or bearer token to the logs', async () => {
    const text = node.stderr();
    for (const secret of [ADMIN_PASSWORD, 'a developer password']) assert.ok(!text.includes(secret), `the log holds ${secret}`);
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\./, 'a JWT in the log');
    assert.match(text, /"msg":"request"/, 'the access log ran');
  });

  it('the admin commands need the administrator', async () => {
    const r = await georeg(['user', 'list', '--url', node.url], { GEOREG_PASSWORD: 'not the password' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /401 UNAUTHORIZED/);
  });
});
