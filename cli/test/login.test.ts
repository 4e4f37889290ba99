import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { expectCleanFailure, georeg } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;
const exec = promisify(execFile);

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest
const ADMIN_PASSWORD = 'an administrator password';

describe('georeg login and logout: one stored login, in the container tools’ file, for every command', function () {
  this.timeout(60_000);
  let node: HarnessModule.TestNode;
  let dir: string;
  let authFile: string;
  let env: Record<string, string>;
  let host: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-login-'));
    authFile = join(dir, 'auth.json');
    env = { REGISTRY_AUTH_FILE: authFile };
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    host = new URL(node.url).host;
  });
  after(async () => {
    await node?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a wrong password and stores nothing; asks for what is missing', async () => {
    expectCleanFailure(await georeg(['login', host, '--username', 'admin', '--password-stdin'], env, 'wrong\n'), 1, /401/);
    await assert.rejects(stat(authFile), /ENOENT/);
    expectCleanFailure(await georeg(['login', host, '--password-stdin'], env, 'x\n'), 2, /--username/);
    expectCleanFailure(await georeg(['login', host, '--username', 'admin'], env), 2, /--password-stdin/);
    expectCleanFailure(await georeg(['login', 'not a host', '--username', 'a', '--password-stdin'], env, 'x'), 2, /HOST\[:PORT\]/);
  });

  it('stores a checked login (mode 0600, Docker config format, other entries kept) that every command and skopeo use', async () => {
    await writeFile(authFile, JSON.stringify({ auths: { 'other.example': { auth: 'b3RoZXI6c2VjcmV0' } }, psFormat: 'x' }));
    const login = await georeg(['login', host, '--username', 'admin', '--password-stdin'], env, `${ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, new RegExp(`logged in to ${host} as admin \\(stored in ${authFile}\\)`));
    assert.equal((await stat(authFile)).mode & 0o777, 0o600);
    const doc = JSON.parse(await readFile(authFile, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
    assert.equal(Buffer.from(doc.auths[host]?.auth ?? '', 'base64').toString(), `admin:${ADMIN_PASSWORD}`);
    assert.equal(doc.auths['other.example']?.auth, 'b3RoZXI6c2VjcmV0');
    assert.equal(doc.psFormat, 'x');

    const pushed = await georeg(['push', SMALL, `${host}/team/app:v1`], env);
    assert.equal(pushed.code, 0, pushed.stderr);
    const where = await georeg(['where', 'team/app:v1', '--url', node.url], env);
    assert.equal(where.code, 0, where.stderr);
    const users = await georeg(['user', 'list', '--url', node.url], env);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /^admin +true/m);
    const { stdout } = await exec('skopeo', ['list-tags', '--tls-verify=false', '--authfile', authFile, `docker://${host}/team/app`]);
    assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['v1']);
  });

  it('logs out: the login is gone and commands say how to log in', async () => {
    const out = await georeg(['logout', host], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`logged out of ${host}`));
    assert.match((await georeg(['logout', host], env)).stdout, /no login stored/);
    const doc = JSON.parse(await readFile(authFile, 'utf8')) as { auths: Record<string, unknown> };
    assert.deepEqual(Object.keys(doc.auths), ['other.example']);
    expectCleanFailure(
      await georeg(['where', 'team/app:v1', '--url', node.url], env),
      2,
      /georeg login REGISTRY --username NAME --password-stdin/,
    );
  });

  it("without REGISTRY_AUTH_FILE: stores in Docker's file under HOME, which skopeo then reads unasked, and finds a login podman stored in XDG_RUNTIME_DIR first", async () => {
    const home = join(dir, 'home');
    const runtime = join(dir, 'run');
    const plain = { HOME: home, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: join(home, '.config') };
    const login = await georeg(['login', host, '--username', 'admin', '--password-stdin'], plain, `${ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const docker = join(home, '.docker', 'config.json');
    assert.match(login.stdout, new RegExp(`stored in ${docker}`));
    assert.equal((await stat(docker)).mode & 0o777, 0o600);
    const { stdout } = await exec('skopeo', ['list-tags', '--tls-verify=false', `docker://${host}/team/app`], {
      env: { ...process.env, ...plain },
    });
    assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['v1'], 'skopeo found the login by itself');

    // A login podman keeps in XDG_RUNTIME_DIR is looked up first: a wrong one there is what the node is sent.
    await mkdir(join(runtime, 'containers'), { recursive: true });
    const wrong = Buffer.from('admin:not the password').toString('base64');
    await writeFile(join(runtime, 'containers', 'auth.json'), JSON.stringify({ auths: { [host]: { auth: wrong } } }));
    const refused = await georeg(['user', 'list', '--url', node.url], plain);
    assert.notEqual(refused.code, 0, 'the runtime file was read first');
    await rm(join(runtime, 'containers', 'auth.json'));
    assert.equal((await georeg(['user', 'list', '--url', node.url], plain)).code, 0);
  });

  it('falls back to GEOREG_USERNAME and GEOREG_PASSWORD', async () => {
    const where = await georeg(['where', 'team/app:v1', '--url', node.url], {
      ...env,
      GEOREG_USERNAME: 'admin',
      GEOREG_PASSWORD: ADMIN_PASSWORD,
    });
    assert.equal(where.code, 0, where.stderr);
    // The password alone is the administrator's, for every command (as for user and token).
    const policy = await georeg(['policy', 'show', '--url', node.url], { ...env, GEOREG_PASSWORD: ADMIN_PASSWORD });
    assert.equal(policy.code, 0, policy.stderr);
  });
});
