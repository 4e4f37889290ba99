import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cliMain } from './support/process.js';
import { Skopeo, SkopeoError } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { apiPaths } from 'georeg/oci';

const exec = promisify(execFile);
const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest

async function georeg(...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, [cliMain, ...args]);
  return stdout;
}

const host = (r: ClusterRegion): string => r.registry.replace('http://', '');

async function pullStatus(r: ClusterRegion, repo: string, ref: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${r.registry}${apiPaths.manifest(repo, ref)}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return { status: res.status, text: await res.text() };
}

async function policyVersion(r: ClusterRegion): Promise<string> {
  return ((await (await fetch(`${r.registry}${apiPaths.trustPolicy()}`)).json()) as { version: string }).version;
}

describe('content trust across three regions (e2e, black box)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;
  let skopeo: Skopeo;
  let eu: ClusterRegion, us: ClusterRegion, ap: ClusterRegion;

  async function applyPolicy(revoked: boolean): Promise<string> {
    const doc = {
      identity: 'georeg.test',
      keys: [{ name: 'ci', publicKey: await readFile(join(dir, 'ci.pub'), 'utf8'), revoked }],
      policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci'] }],
    };
    await writeFile(join(dir, 'policy.json'), JSON.stringify(doc));
    const out = await georeg('policy', 'apply', join(dir, 'policy.json'), '--url', eu.registry);
    const version = /applied version (\S+)/.exec(out)?.[1];
    assert.ok(version, out);
    await until(30_000, `policy ${version} in every region`, async () =>
      (await Promise.all([us, ap].map(policyVersion))).every((v) => v === version),
    );
    return version;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-trust-e2e-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    cluster = await Cluster.start(join(dir, 'data'));
    [eu, us, ap] = [cluster.region('eu'), cluster.region('us'), cluster.region('ap')];
    await georeg('key', 'generate', '--out', join(dir, 'ci'));
    await applyPolicy(false);
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('skopeo cannot pull an unsigned tag from an enforcing repository in another region; it names the reason', async () => {
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/prod/app:unsigned`]);
    await until(60_000, 'the unsigned tag to reach us', async () => {
      const res = await fetch(`${us.registry}${apiPaths.trustTag('prod/app', 'unsigned')}`);
      return ((await res.json()) as { target: unknown }).target !== null;
    });
    const err = await skopeo
      .run(['copy', '--src-tls-verify=false', `docker://${host(us)}/prod/app:unsigned`, `oci:${join(dir, 'out-unsigned')}:x`])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof SkopeoError, 'skopeo copy must fail');
    assert.match(err.stderr, /denied/i);
    assert.match(err.stderr, /unsigned|no tag binding/);
  });

  it('signed in eu, pulled verified in us and ap (skopeo copy and georeg verify)', async () => {
    await georeg('push', SMALL, `${host(eu)}/prod/app:v1`, '--sign', '--key', join(dir, 'ci.key'));
    for (const r of [us, ap]) {
      await until(60_000, `prod/app:v1 to be served in ${r.name}`, async () => (await pullStatus(r, 'prod/app', 'v1')).status === 200);
      await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host(r)}/prod/app:v1`, `oci:${join(dir, `out-${r.name}`)}:v1`]);
      const verified = await georeg('verify', `${host(r)}/prod/app:v1`, '--key', join(dir, 'ci.pub'));
      assert.match(verified, /verified: signed by/);
    }
  });

  it('a tag that replicated before its signature is served in us once the signature arrives', async () => {
    assert.equal((await pullStatus(us, 'prod/app', 'unsigned')).status, 403);
    await georeg('sign', `${host(eu)}/prod/app:unsigned`, '--key', join(dir, 'ci.key'));
    await until(60_000, 'the signature to reach us', async () => (await pullStatus(us, 'prod/app', 'unsigned')).status === 200);
  });

  it("fetch-through: us serves at once, verified, a tag signed in eu while us's NATS hangs, and still refuses an unsigned one", async () => {
    const nats = await cluster.pid('us', 'nats');
    cluster.freeze(nats);
    try {
      await georeg('push', SMALL, `${host(eu)}/prod/fresh:signed`, '--sign', '--key', join(dir, 'ci.key'));
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/prod/fresh:unsigned`]);
      const signed = await pullStatus(us, 'prod/fresh', 'signed');
      assert.equal(signed.status, 200, signed.text);
      assert.match(await georeg('verify', `${host(us)}/prod/fresh:signed`, '--key', join(dir, 'ci.pub')), /verified: signed by/);
      const unsigned = await pullStatus(us, 'prod/fresh', 'unsigned');
      assert.equal(unsigned.status, 403, unsigned.text);
      assert.match(unsigned.text, /unsigned|no tag binding/);
    } finally {
      cluster.thaw(nats);
    }
  });

  it('a key revoked in eu is refused in us and ap within the replication lag', async () => {
    const t0 = Date.now();
    await applyPolicy(true);
    for (const r of [eu, us, ap]) {
      const res = await pullStatus(r, 'prod/app', 'v1');
      assert.equal(res.status, 403, `${r.name}: ${res.text}`);
      assert.match(res.text, /revoked/);
    }
    assert.ok(Date.now() - t0 < 30_000);
  });
});
