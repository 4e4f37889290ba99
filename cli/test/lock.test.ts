import assert from 'node:assert/strict';
import { apiPaths } from 'georeg/oci';
import { http } from 'georeg/test-support';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { expectCleanFailure, georeg, type Run } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest (linux/amd64)
const MULTI = '/tmp/lab-images/multi:latest'; // an index of linux/amd64 and linux/arm64
const ADMIN_PASSWORD = 'an administrator password';

/** The digest `georeg push` printed. */
function pushedDigest(run: Run): string {
  assert.equal(run.code, 0, run.stderr);
  return /^pushed \S+ (sha256:[a-f0-9]{64})$/m.exec(run.stdout)?.[1] as string;
}

describe('georeg lock, unlock and show: ACR’s properties and locks (against a node)', function () {
  this.timeout(60_000);
  let node: HarnessModule.TestNode;
  let host: string;
  let app: string;
  let image: string;

  before(async () => {
    node = await startTestNode();
    host = new URL(node.url).host;
    app = `${host}/team/app`;
    image = pushedDigest(await georeg(['push', SMALL, `${app}:v1`]));
  });
  after(async () => {
    await node?.close();
  });

  it('lock REG/REPO:TAG locks writes and deletes: a push to the tag is refused naming the lock, show prints it, unlock lifts it', async () => {
    const locked = await georeg(['lock', `${app}:v1`]);
    assert.equal(locked.code, 0, locked.stderr);
    assert.equal(locked.stdout, `${app}:v1: locked against delete, write (read, list allowed)\n`);
    expectCleanFailure(
      await georeg(['push', SMALL, `${app}:v1`]),
      1,
      new RegExp(`423 DENIED team/app:v1 is locked: it cannot be written .*lift it with \`georeg unlock ${host}/team/app:v1 --write\``),
    );
    const shown = await georeg(['show', `${app}:v1`]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^tag +${app}:v1\ndigest +${image}\n`));
    assert.match(shown.stdout, /^locks +locked against delete, write \(read, list allowed\)$/m);
    const unlocked = await georeg(['unlock', `${app}:v1`]);
    assert.equal(unlocked.stdout, `${app}:v1: unlocked (delete, write, read, list allowed)\n`);
    pushedDigest(await georeg(['push', SMALL, `${app}:v1`]));
  });

  it('flags name the attributes, and a PATCH changes only those: --read refuses pulls, unlock --write lifts only writes', async () => {
    const pull = async (): Promise<number> => (await http('GET', `${node.url}${apiPaths.manifest('team/app', 'v1')}`)).status;
    assert.equal((await georeg(['lock', app, '--read'])).stdout, `${app}: locked against read (delete, write, list allowed)\n`);
    assert.equal(await pull(), 423);
    assert.equal((await georeg(['unlock', app, '--read'])).code, 0);
    assert.equal(await pull(), 200);
    assert.equal((await georeg(['lock', `${app}@${image}`, '--write'])).code, 0);
    assert.equal(
      (await georeg(['lock', `${app}@${image}`, '--delete'])).stdout,
      `${app}@${image}: locked against delete, write (read, list allowed)\n`,
    );
    assert.equal(
      (await georeg(['unlock', `${app}@${image}`, '--write'])).stdout,
      `${app}@${image}: locked against delete (write, read, list allowed)\n`,
    );
    assert.equal((await georeg(['unlock', `${app}@${image}`])).code, 0);
  });

  it("show: a manifest's size, platform and tags, an index's platforms, a repository's counts", async () => {
    const manifest = await georeg(['show', `${app}@${image}`]);
    assert.equal(manifest.code, 0, manifest.stderr);
    assert.match(manifest.stdout, /^media type +application\/vnd\.oci\.image\.manifest\.v1\+json$/m);
    assert.match(manifest.stdout, /^size +\d+(\.\d)? MiB$/m, 'the image: config and layers');
    assert.match(manifest.stdout, /^platform +linux\/amd64$/m);
    assert.match(manifest.stdout, /^tags +v1$/m);
    assert.match(manifest.stdout, /^locks +unlocked/m);
    const index = pushedDigest(await georeg(['push', MULTI, `${app}:multi`]));
    const platforms = await georeg(['show', `${app}@${index}`]);
    assert.match(platforms.stdout, /^platforms +linux\/amd64 +sha256:[a-f0-9]{64}\n +linux\/arm64 +sha256:[a-f0-9]{64}$/m);
    const repository = await georeg(['show', app]);
    assert.match(
      repository.stdout,
      new RegExp(`^repository +${app}\ntags +2\nmanifests +4\ncreated +\\S+Z\nupdated +\\S+Z\nlocks +unlocked`),
    );
  });

  it("--json prints the API's answer", async () => {
    const locked = JSON.parse((await georeg(['lock', `${app}:v1`, '--list', '--json'])).stdout) as {
      imageName: string;
      tag: { name: string; digest: string; changeableAttributes: Record<string, boolean> };
    };
    assert.equal(locked.imageName, 'team/app');
    assert.deepEqual(
      { name: locked.tag.name, digest: locked.tag.digest, attributes: locked.tag.changeableAttributes },
      { name: 'v1', digest: image, attributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: false } },
    );
    const repository = JSON.parse((await georeg(['show', app, '--json'])).stdout) as { imageName: string; tagCount: number };
    assert.deepEqual([repository.imageName, repository.tagCount], ['team/app', 2]);
    assert.equal((await georeg(['unlock', `${app}:v1`])).code, 0);
  });

  it('a missing repository, tag or manifest says which and what to do; a bad reference is a usage error', async () => {
    const none = `sha256:${'0'.repeat(64)}`;
    expectCleanFailure(
      await georeg(['show', `${app}:v9`]),
      1,
      new RegExp(`^georeg show: no tag v9 in ${app}: check the tag, or push it first$`, 'm'),
    );
    expectCleanFailure(
      await georeg(['lock', `${app}@${none}`]),
      1,
      new RegExp(`^georeg lock: no manifest ${none} in ${app}: check the digest`, 'm'),
    );
    expectCleanFailure(
      await georeg(['unlock', `${host}/team/none`]),
      1,
      /no repository \S+\/team\/none: check its name, or push to it first/,
    );
    expectCleanFailure(await georeg(['show', `${host}/Team/App`]), 2, /bad repository name "Team\/App"/);
    expectCleanFailure(await georeg(['lock', `${app}:v1@${image}`]), 2, /give a tag or a digest, not both/);
    expectCleanFailure(await georeg(['unlock']), 2, /give one REGISTRY\/REPOSITORY\[:TAG\|@DIGEST\]/);
    expectCleanFailure(await georeg(['lock', app, '--writes']), 2, /unknown option --writes \(did you mean --write\?\)/);
  });

  it('--help for each, and georeg --help lists them', async () => {
    for (const command of ['lock', 'unlock', 'show']) {
      const help = await georeg([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^(Usage: | +)georeg ${command} REGISTRY/REPOSITORY\\[:TAG\\|@DIGEST\\]`, 'm'));
      assert.match(help.stdout, /--timeout SECONDS/);
    }
    const all = (await georeg(['--help'])).stdout;
    for (const command of ['lock', 'unlock', 'show']) assert.match(all, new RegExp(`^  ${command} +\\S`, 'm'));
  });
});

describe('georeg lock and show with authentication on: the scopes the challenges name', function () {
  this.timeout(60_000);
  let node: HarnessModule.TestNode;
  let app: string;
  const admin = { GEOREG_USERNAME: 'admin', GEOREG_PASSWORD: ADMIN_PASSWORD };
  const reader = { GEOREG_USERNAME: 'reader', GEOREG_PASSWORD: 'a reader password' };

  before(async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    app = `${new URL(node.url).host}/team/app`;
    pushedDigest(await georeg(['push', SMALL, `${app}:v1`], admin));
    const added = await georeg(
      ['user', 'add', 'reader', '--role', 'team/**:pull', '--password-stdin', '--url', node.url],
      admin,
      'a reader password',
    );
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await node?.close();
  });

  it('an administrator locks (metadata_write); a pull-only user shows (metadata_read) and is told what it lacks to lock; no credentials: log in', async () => {
    assert.equal((await georeg(['lock', `${app}:v1`], admin)).stdout, `${app}:v1: locked against delete, write (read, list allowed)\n`);
    const shown = await georeg(['show', `${app}:v1`], reader);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^locks +locked against delete, write/m);
    expectCleanFailure(
      await georeg(['unlock', `${app}:v1`], reader),
      1,
      /PATCH \/acr\/v1\/team\/app\/_tags\/v1: 401 UNAUTHORIZED .*\(reader is not granted metadata_write on team\/app: an administrator grants it/,
    );
    expectCleanFailure(await georeg(['show', `${app}:v1`]), 1, /401 UNAUTHORIZED .*log in with `georeg login REGISTRY/);
    assert.match(
      (await georeg(['show', `${app}:v1`], admin)).stdout,
      /^locks +locked against delete, write/m,
      'the refused unlock changed nothing',
    );
  });
});
