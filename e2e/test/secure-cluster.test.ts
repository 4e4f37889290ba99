import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { sha256 } from 'georeg/test-support';
import { Skopeo } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { apiPaths, queryString } from 'georeg/oci';

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest

interface SecureInfo {
  regions: ClusterRegion[];
  ca: string;
  admin: { user: string; passwordFile: string };
}

/** An HTTPS request trusting the cluster's CA; resolves with status, headers and body. */
function https(
  url: string,
  ca: Buffer,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string | Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('georeg cluster --secure: HTTPS, authentication, mutual TLS between regions, NATS credentials (e2e)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;
  let info: SecureInfo;
  let ca: Buffer;
  let certDir: string;
  let admin: string;
  let skopeo: Skopeo;
  const host = (r: ClusterRegion): string => r.registry.replace('https://', '');
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  async function token(r: ClusterRegion, scope: string, auth = basic('admin', admin)): Promise<string> {
    const res = await https(`${r.registry}${apiPaths.oauthToken()}?service=georeg&scope=${encodeURIComponent(scope)}`, ca, {
      Authorization: auth,
    });
    assert.equal(res.status, 200, res.body.toString());
    return (JSON.parse(res.body.toString()) as { token: string }).token;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-secure-cluster-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    cluster = await Cluster.start(join(dir, 'data'), ['eu', 'us', 'ap'], ['--secure']);
    info = JSON.parse(await readFile(join(dir, 'data', 'cluster.json'), 'utf8')) as SecureInfo;
    ca = await readFile(info.ca);
    admin = (await readFile(info.admin.passwordFile, 'utf8')).trim();
    certDir = join(dir, 'certs.d');
    await mkdir(certDir);
    await copyFile(info.ca, join(certDir, 'ca.crt'));
  });
  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('says in its ready message where the admin password and the CA are', () => {
    assert.ok(cluster.stdout.includes(`user admin, its password in ${info.admin.passwordFile}`), cluster.stdout);
    assert.ok(cluster.stdout.includes(`the CA to trust: ${info.ca} (--ca`), cluster.stdout);
  });

  it('serves HTTPS with authentication in every region', async () => {
    for (const r of info.regions) {
      assert.match(r.registry, /^https:\/\//);
      const res = await https(`${r.registry}${apiPaths.base()}`, ca);
      assert.equal(res.status, 401);
    }
  });

  it('a push with credentials into eu replicates over mutual TLS; us and ap serve it to a user created in eu', async () => {
    const [eu, us, ap] = info.regions as [ClusterRegion, ClusterRegion, ClusterRegion];
    await skopeo.run([
      'copy',
      '--dest-cert-dir',
      certDir,
      '--dest-creds',
      `admin:${admin}`,
      `oci:${SMALL}`,
      `docker://${host(eu)}/team/app:v1`,
    ]);
    const created = await https(
      `${eu.registry}${apiPaths.users()}`,
      ca,
      { Authorization: basic('admin', admin), 'Content-Type': 'application/json' },
      'POST',
      JSON.stringify({ name: 'dev', password: 'a developer password', roles: [{ repositories: ['team/**'], roles: ['pull'] }] }),
    );
    assert.equal(created.status, 201, created.body.toString());
    for (const r of [us, ap]) {
      await until(60_000, `team/app:v1 complete in ${r.name}`, async () => {
        const t = await token(r, 'repository:team/app:pull');
        const where = await https(`${r.registry}${apiPaths.where('team/app', 'v1')}`, ca, { Authorization: `Bearer ${t}` });
        return (
          where.status === 200 &&
          (JSON.parse(where.body.toString()) as { regions: { state: string }[] }).regions.every((x) => x.state === 'complete')
        );
      });
      // The user created in eu replicated too, with its role.
      await until(
        30_000,
        `user dev in ${r.name}`,
        async () =>
          (await https(`${r.registry}${apiPaths.oauthToken()}?service=georeg`, ca, { Authorization: basic('dev', 'a developer password') }))
            .status === 200,
      );
      await skopeo.run(['inspect', '--cert-dir', certDir, '--creds', 'dev:a developer password', `docker://${host(r)}/team/app:v1`]);
    }
  });

  it('a pull in us of a blob only eu holds is redirected to eu on a signed URL, over mutual TLS between the regions', async () => {
    const [eu, us] = info.regions as [ClusterRegion, ClusterRegion];
    // A blob with no manifest makes no event: it stays in eu alone.
    const blob = randomBytes(64 * 1024);
    const digest = sha256(blob);
    const pushed = await https(
      `${eu.registry}${apiPaths.uploads('team/solo')}${queryString({ digest })}`,
      ca,
      { Authorization: `Bearer ${await token(eu, 'repository:team/solo:pull,push')}` },
      'POST',
      blob,
    );
    assert.equal(pushed.status, 201, pushed.body.toString());
    const t = await token(us, 'repository:team/solo:pull');
    // Until us's replicator has probed eu as up, there is nowhere to redirect to.
    let location = '';
    await until(15_000, 'a redirect from us', async () => {
      const res = await https(`${us.registry}${apiPaths.blob('team/solo', digest)}`, ca, { Authorization: `Bearer ${t}` });
      location = res.headers.location ?? '';
      return res.status === 307;
    });
    assert.ok(location.startsWith(`${eu.registry}${apiPaths.blobData('team/solo', digest)}?t=`), location);
    const got = await https(location, ca);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(blob));
    assert.equal(
      (await https(`${us.registry}${apiPaths.blob('team/solo', digest)}`, ca, { Authorization: `Bearer ${t}` }, 'HEAD')).status,
      404,
    );
  });

  it("fetch-through with authentication on: us serves at once, to a user with pull, an image pushed to eu while us's NATS hangs", async () => {
    const [eu, us] = info.regions as [ClusterRegion, ClusterRegion];
    const nats = await cluster.pid('us', 'nats');
    cluster.freeze(nats);
    try {
      const pushed = await skopeo.json<{ Digest: string }>([
        'inspect',
        '--cert-dir',
        certDir,
        '--creds',
        `admin:${admin}`,
        `docker://${host(eu)}/team/app:v1`,
      ]);
      await skopeo.run([
        'copy',
        '--src-cert-dir',
        certDir,
        '--src-creds',
        `admin:${admin}`,
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        `admin:${admin}`,
        `docker://${host(eu)}/team/app:v1`,
        `docker://${host(eu)}/team/fresh:v1`,
      ]);
      const anonymous = await https(`${us.registry}${apiPaths.manifest('team/fresh', 'v1')}`, ca);
      assert.equal(anonymous.status, 401, 'an anonymous pull is refused');
      const got = await skopeo.json<{ Digest: string }>([
        'inspect',
        '--cert-dir',
        certDir,
        '--creds',
        'dev:a developer password',
        `docker://${host(us)}/team/fresh:v1`,
      ]);
      assert.equal(got.Digest, pushed.Digest);
    } finally {
      cluster.thaw(nats);
    }
  });

  it('its NATS servers refuse a client without the password', async () => {
    const eu = info.regions[0] as ClusterRegion;
    await assert.rejects(connect({ servers: eu.nats, reconnect: false }), /Authorization Violation|AUTHORIZATION_VIOLATION/i);
  });

  it('replicates over mutual TLS without a TLS ServerName warning on the terminal', () => {
    assert.match(cluster.stderr, /peer reachable/, 'the regions connected to each other');
    assert.doesNotMatch(cluster.stderr, /DeprecationWarning/);
  });
});
