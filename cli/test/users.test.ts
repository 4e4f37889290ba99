import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { expectCleanFailure, georeg, type Run } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest
const ADMIN_PASSWORD = 'an administrator password';
const PASSWORD = 'a developer password';
const ADMIN = { GEOREG_PASSWORD: ADMIN_PASSWORD };

describe('georeg user: roles per repository glob (against a node with authentication on)', function () {
  this.timeout(60_000);
  let node: HarnessModule.TestNode;
  let dir: string;
  let url: string;
  let host: string;
  const user = (args: string[], env: Record<string, string> = ADMIN): Promise<Run> => georeg(['user', ...args, '--url', url], env);
  const listed = async (name: string): Promise<string> =>
    (await user(['list'])).stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-users-cli-'));
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    url = node.url;
    host = url.replace('http://', '');
  });
  after(async () => {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('against a node with authentication off, says so instead of "no such route"', async () => {
    const open = await startTestNode();
    try {
      const run = await georeg(['user', 'list', '--url', open.url], ADMIN);
      expectCleanFailure(run, 1, /404 AUTH_OFF authentication is off on this node \(auth\.enabled=false\)/);
    } finally {
      await open.close();
    }
  });

  it('--help describes roles and update', async () => {
    const help = await georeg(['user', '--help']);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout,
      /georeg user update NAME \[--role 'REPO-GLOB:ROLES' \.\.\. \| --no-roles\] \[--admin-user \| --no-admin-user\]/,
    );
    for (const role of ['pull', 'push', 'delete', 'sign', 'admin']) assert.match(help.stdout, new RegExp(`^  ${role} +\\S`, 'm'));
  });

  it('add --role, list shows the roles, update replaces them, --no-roles clears them, --admin-user promotes', async () => {
    const added = await georeg(
      ['user', 'add', 'dev', '--role', 'team/**:push', '--role', 'other/**:pull,sign', '--password-stdin', '--url', url],
      ADMIN,
      `${PASSWORD}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(await listed('dev'), /^dev +false +team\/\*\*:push other\/\*\*:pull,sign +false /);
    const updated = await user(['update', 'dev', '--role', 'team/**:delete']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /^updated user dev: admin false, roles team\/\*\*:delete$/m);
    assert.match(await listed('dev'), /^dev +false +team\/\*\*:delete +false /);
    assert.equal((await user(['update', 'dev', '--no-roles'])).code, 0);
    assert.match(await listed('dev'), /^dev +false +- +false /);
    assert.equal((await user(['update', 'dev', '--admin-user'])).code, 0);
    assert.match(await listed('dev'), /^dev +true +- +false /);
    assert.equal((await user(['update', 'dev', '--no-admin-user', '--role', 'team/**:pull'])).code, 0);
    assert.match(await listed('dev'), /^dev +false +team\/\*\*:pull +false /);
    const json = JSON.parse((await user(['list', '--json'])).stdout) as { users: { name: string; roles: unknown }[] };
    assert.deepEqual(json.users.find((u) => u.name === 'dev')?.roles, [{ repositories: ['team/**'], roles: ['pull'] }]);
  });

  it('add without roles says the user can do nothing yet; list marks a user stored before roles existed', async () => {
    const added = await georeg(['user', 'add', 'idle', '--password-stdin', '--url', url], ADMIN, `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^add idle: ok \(no roles: it can log in and do nothing until `georeg user update idle --role \.\.\.`\)$/m);
    const identities = node.stores.meta.records<Record<string, unknown>>('identities');
    const stored = (await identities.get('auth/user/idle')) as Record<string, unknown>;
    delete stored.roles;
    await identities.put('auth/user/idle', stored);
    assert.match(await listed('idle'), /^idle +false +\*\*:push,delete \(legacy: no roles set\) +false /);
  });

  it('refuses bad role flags clearly: usage mistakes exit 2, roles the registry refuses exit 1 naming the role', async () => {
    expectCleanFailure(await user(['update', 'dev']), 2, /nothing to update: give --role, --no-roles, --admin-user or --no-admin-user/);
    expectCleanFailure(await user(['update', 'dev', '--role', 'team/**']), 2, /--role must look like 'team\/\*\*:pull,push'/);
    expectCleanFailure(await user(['update', 'dev', '--role', 'team/**:pull', '--no-roles']), 2, /--role or --no-roles, not both/);
    expectCleanFailure(
      await user(['update', 'dev', '--role', 'team/**:owner']),
      1,
      /400 AUTH_INVALID roles\[0\]\.roles: unknown role "owner"; use pull, push, delete, sign, admin/,
    );
    expectCleanFailure(await user(['update', 'nobody', '--role', 'team/**:pull']), 1, /404 AUTH_UNKNOWN/);
  });

  it('a user with the sign role signs with georeg sign, and its push of an image is refused', async () => {
    assert.equal((await georeg(['key', 'generate', '--out', join(dir, 'signer')])).code, 0);
    const pushed = await georeg(['push', SMALL, `${host}/team/app:v1`], { GEOREG_CREDS: `admin:${ADMIN_PASSWORD}` });
    assert.equal(pushed.code, 0, pushed.stderr);
    const added = await georeg(
      ['user', 'add', 'signer', '--role', 'team/**:sign', '--password-stdin', '--url', url],
      ADMIN,
      `${PASSWORD}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
    const creds = { GEOREG_CREDS: `signer:${PASSWORD}` };
    const signed = await georeg(['sign', `${host}/team/app:v1`, '--key', join(dir, 'signer.key'), '--legacy-tag'], creds);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /legacy tag +sha256-[0-9a-f]{64}\.sig/);
    const verified = await georeg(['verify', `${host}/team/app:v1`, '--key', join(dir, 'signer.pub')], creds);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const refused = await georeg(['push', SMALL, `${host}/team/app:v2`], creds);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /403 .*sign role allows pushing signatures only/);
  });
});
