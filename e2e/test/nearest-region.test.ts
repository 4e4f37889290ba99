import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { Skopeo, layoutBlob, layoutRef } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { RoundRobin } from './support/round-robin.js';
import { georegCli as georeg } from './support/serve.js';

const SMALL_LAYOUT = '/tmp/lab-images/small'; // built by npm test's pretest
const SMALL = `${SMALL_LAYOUT}:latest`;
/** Client placement over loopback source addresses: 127.0.0.2 belongs to eu, .3 to us, .4 to ap. */
const PLACEMENT = '127.0.0.2/32=eu,127.0.0.3/32=us,127.0.0.4/32=ap';
const CLIENT = { eu: '127.0.0.2', us: '127.0.0.3', ap: '127.0.0.4' } as const;
/** replication.failoverSeconds of every region: shorter than the default 10 s, to show it is honoured. */
const FAILOVER_SECONDS = 6;

/** A GET from loopback address `from`, not following redirects. */
function getFrom(from: string, url: string): Promise<{ status: number; location?: string; region?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress: from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          location: res.headers.location,
          region: res.headers['georeg-region'] as string | undefined,
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('nearest region: placement, fetch-through, failover and drain across three regions (e2e, black box)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;
  let skopeo: Skopeo;
  let eu: ClusterRegion;
  let us: ClusterRegion;
  let ap: ClusterRegion;
  let layer: string;
  const host = (r: ClusterRegion): string => r.registry.replace('http://', '');
  /** What `georeg where --client` says of a client at `address`, asked of eu. */
  const whereClient = async (address: string): Promise<string> => {
    const res = await georeg(['where', '--client', address, '--url', eu.registry]);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-nearest-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    process.env.GEOREG_NETWORK_PLACEMENT = PLACEMENT;
    process.env.GEOREG_REPLICATION_FAILOVER_SECONDS = String(FAILOVER_SECONDS);
    try {
      cluster = await Cluster.start(join(dir, 'data'));
    } finally {
      delete process.env.GEOREG_NETWORK_PLACEMENT;
      delete process.env.GEOREG_REPLICATION_FAILOVER_SECONDS;
    }
    [eu, us, ap] = ['eu', 'us', 'ap'].map((n) => cluster.region(n)) as [ClusterRegion, ClusterRegion, ClusterRegion];
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/near/small:v1`]);
    await until(60_000, 'near/small:v1 complete in every region', async () => {
      const body = (await (await fetch(`${eu.registry}${apiPaths.where('near/small', 'v1')}`)).json()) as { regions: { state: string }[] };
      return body.regions.length === 3 && body.regions.every((r) => r.state === 'complete');
    });
    const manifest = JSON.parse((await layoutBlob(SMALL_LAYOUT, (await layoutRef(SMALL_LAYOUT, 'latest')).digest)).toString('utf8')) as {
      layers: { digest: string }[];
    };
    layer = manifest.layers[0]?.digest as string;
  });
  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends a client placed in us from eu's endpoint to us, and serves eu's own clients in eu", async () => {
    const url = `${eu.registry}${apiPaths.blob('near/small', layer)}`;
    const here = await getFrom(CLIENT.eu, url);
    assert.equal(here.status, 200);
    assert.equal(here.region, 'eu');
    const placed = await getFrom(CLIENT.us, url);
    assert.equal(placed.status, 307);
    assert.equal(placed.region, 'eu');
    assert.ok(placed.location?.startsWith(`${us.registry}${apiPaths.blobData('near/small', layer)}`), placed.location);
    const there = await getFrom(CLIENT.us, placed.location as string);
    assert.equal(there.status, 200);
    assert.equal(there.region, 'us');
    assert.equal(sha256(there.body), layer);
    assert.match(await whereClient(CLIENT.us), /^127\.0\.0\.3 is placed in us \(127\.0\.0\.3\/32\): eu sends its blob pulls to us/m);
    assert.match(await whereClient(CLIENT.eu), /^127\.0\.0\.2 is placed in eu \(127\.0\.0\.2\/32\): eu serves it itself$/m);
  });

  it("serves in us, at once and byte-identical, an image pushed to eu while us's NATS server hangs (fetch-through; skopeo)", async () => {
    const natsUs = await cluster.pid('us', 'nats');
    cluster.freeze(natsUs);
    try {
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/near/fresh:v1`]);
      const inspected = await skopeo.json<{ Digest: string }>(['inspect', '--tls-verify=false', `docker://${host(us)}/near/fresh:v1`]);
      const fromEu = await skopeo.json<{ Digest: string }>(['inspect', '--tls-verify=false', `docker://${host(eu)}/near/fresh:v1`]);
      assert.equal(inspected.Digest, fromEu.Digest);
      await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host(us)}/near/fresh:v1`, `oci:${join(dir, 'out')}:fresh`]);
      assert.equal((await layoutRef(join(dir, 'out'), 'fresh')).digest, fromEu.Digest);
      const metrics = await (await fetch(`${us.registry}${apiPaths.metrics()}`)).text();
      assert.match(metrics, /^georeg_fetch_through_total\{kind="manifest",result="fetched"\} [1-9]/m);
    } finally {
      cluster.thaw(natsUs);
    }
  });

  it('takes 50 of 50 skopeo pushes through a round-robin front over eu and us (uploads forwarded, manifests completed)', async () => {
    const front = await RoundRobin.start([eu.registry, us.registry]);
    try {
      for (let i = 0; i < 50; i++) {
        // A repository each: its blobs are not linked there yet in either region, so each push uploads again.
        await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://127.0.0.1:${front.port}/near/split-${i}:v1`]);
      }
    } finally {
      await front.close();
    }
    const expected = (await layoutRef(SMALL_LAYOUT, 'latest')).digest;
    for (const r of [eu, us]) {
      const got = await skopeo.json<{ Digest: string }>(['inspect', '--tls-verify=false', `docker://${host(r)}/near/split-49:v1`]);
      assert.equal(got.Digest, expected);
    }
  });

  it('serves a client placed in ap from eu while ap hangs, within the failover time, and sends it to ap again once back', async () => {
    const url = `${eu.registry}${apiPaths.blob('near/small', layer)}`;
    assert.equal((await getFrom(CLIENT.ap, url)).status, 307);
    const node = await cluster.pid('ap', 'node');
    cluster.freeze(node);
    const t0 = Date.now();
    try {
      // Health, not one slow answer: a GET may also be served here when ap's answer on the blob times out.
      const down = /placed in ap \(127\.0\.0\.4\/32\), which does not answer its health probes: eu serves it itself/;
      await until(15_000, 'eu to take ap out of routing', async () => down.test(await whereClient(CLIENT.ap)));
      assert.ok(Date.now() - t0 < FAILOVER_SECONDS * 1000, `left routing after ${Date.now() - t0} ms`);
      const served = await getFrom(CLIENT.ap, url);
      assert.equal(served.status, 200);
      assert.equal(served.region, 'eu');
    } finally {
      cluster.thaw(node);
    }
    await until(15_000, 'ap back in routing', async () => (await getFrom(CLIENT.ap, url)).status === 307);
  });

  it('georeg region drain takes ap out of routing (its own clients are still served there) and undrain brings it back', async () => {
    const url = `${eu.registry}${apiPaths.blob('near/small', layer)}`;
    const drained = await georeg(['region', 'drain', 'ap', '--reason', 'e2e', '--url', ap.registry]);
    assert.equal(drained.code, 0, drained.stderr);
    await until(15_000, 'eu to stop sending ap-placed clients to ap', async () => (await getFrom(CLIENT.ap, url)).status === 200);
    assert.match(await whereClient(CLIENT.ap), /which is drained: eu serves it itself until ap is undrained/);
    const own = await getFrom(CLIENT.ap, `${ap.registry}${apiPaths.blob('near/small', layer)}`);
    assert.equal(own.status, 200);
    assert.equal(own.region, 'ap');
    const undrained = await georeg(['region', 'undrain', 'ap', '--url', ap.registry]);
    assert.equal(undrained.code, 0, undrained.stderr);
    await until(15_000, 'ap back in routing', async () => (await getFrom(CLIENT.ap, url)).status === 307);
  });
});
