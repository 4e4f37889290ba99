import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoregNode } from './support/process.js';
import { georegCli, runProcess, type Ran } from './support/serve.js';
import { Skopeo, skopeoFails } from './support/skopeo.js';
import { apiPaths } from 'georeg/oci';

const ADMIN_PASSWORD = 'an administrator password';
const CI_PASSWORD = 'the ci job password';
const SMALL = '/tmp/lab-images/small:latest';

/**
 * With authentication on and anonymous pull allowed somewhere, real clients (containers/image in
 * skopeo and podman) read the `/v2/` ping to decide whether to send the credentials they were given:
 * a 200 there made them push without credentials and fail. The ping now always challenges.
 */
describe('anonymous pull with authentication on: real clients still log in to push (e2e)', function () {
  this.timeout(180_000);
  let dir: string;
  let node: GeoregNode;
  let skopeo: Skopeo;
  let host: string;
  /** podman with its own storage and login file, so nothing on the machine is read or changed. */
  let podman: (args: string[]) => Promise<Ran>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-anon-e2e-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    node = await GeoregNode.start({
      env: { GEOREG_AUTH_ENABLED: 'true', GEOREG_AUTH_ANONYMOUS_PULL: 'pub/**', GEOREG_ADMIN_PASSWORD: ADMIN_PASSWORD },
    });
    host = node.hostPort;
    const added = await georegCli(
      ['user', 'add', 'ci', '--role', '**:push', '--password-stdin', '--url', node.url],
      { GEOREG_PASSWORD: ADMIN_PASSWORD },
      `${CI_PASSWORD}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
    const storage = ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), '--storage-driver', 'vfs'];
    // An empty login file of its own: podman must not find credentials stored on this machine.
    await writeFile(join(dir, 'auth.json'), '{"auths":{}}');
    podman = (args) => runProcess('podman', [...storage, ...args], { REGISTRY_AUTH_FILE: join(dir, 'auth.json') });
    const pulled = await podman(['pull', '-q', `oci:${SMALL}`]);
    assert.equal(pulled.code, 0, pulled.stderr);
  });
  after(async () => {
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('challenges GET /v2/ without credentials, though anonymous pull is on', async () => {
    const res = await fetch(`${node.url}${apiPaths.base()}`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/oauth2\/token",service="georeg"$/);
    // An anonymous token from the realm opens it: anonymous clients follow the challenge.
    const { token } = (await (await fetch(`${node.url}${apiPaths.oauthToken()}?service=georeg`)).json()) as { token: string };
    assert.equal((await fetch(`${node.url}${apiPaths.base()}`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  });

  it('skopeo pushes with credentials into pub/** and a private repository, pulls pub/** anonymously, and is refused the rest', async () => {
    for (const repo of ['pub/app', 'private/app']) {
      await skopeo.run([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `ci:${CI_PASSWORD}`,
        `oci:${SMALL}`,
        `docker://${host}/${repo}:v1`,
      ]);
    }
    await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host}/pub/app:v1`, `dir:${join(dir, 'anon-pull')}`]);
    const privatePull = await skopeoFails(
      () => skopeo.run(['inspect', '--tls-verify=false', `docker://${host}/private/app:v1`]),
      'anonymous pull of a private repository',
    );
    assert.match(privatePull.stderr, /unauthorized|authentication required/i);
    const anonPush = await skopeoFails(
      () => skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host}/pub/app:anon`]),
      'anonymous push',
    );
    assert.match(anonPush.stderr, /unauthorized|authentication required|denied/i);
  });

  it('podman pushes with --creds into pub/** and a private repository, pulls pub/** anonymously, and is refused the rest', async () => {
    const image = 'localhost/tmp/lab-images/small:latest';
    for (const repo of ['pub/podman', 'private/podman']) {
      const pushed = await podman(['push', '--tls-verify=false', '--creds', `ci:${CI_PASSWORD}`, image, `docker://${host}/${repo}:v1`]);
      assert.equal(pushed.code, 0, `podman push into ${repo}: ${pushed.stderr}`);
    }
    const pulled = await podman(['pull', '--tls-verify=false', `${host}/pub/podman:v1`]);
    assert.equal(pulled.code, 0, `anonymous podman pull: ${pulled.stderr}`);
    const privatePull = await podman(['pull', '--tls-verify=false', `${host}/private/podman:v1`]);
    assert.notEqual(privatePull.code, 0, 'an anonymous pull of a private repository succeeded');
    assert.match(privatePull.stderr, /unauthorized|authentication required/i);
    const anonPush = await podman(['push', '--tls-verify=false', image, `docker://${host}/pub/podman:anon`]);
    assert.notEqual(anonPush.code, 0, 'an anonymous push succeeded');
    assert.match(anonPush.stderr, /unauthorized|authentication required|denied/i);
  });
});
