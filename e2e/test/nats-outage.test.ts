import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Skopeo } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { apiPaths } from 'georeg/oci';

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest
const MULTI = '/tmp/lab-images/multi:latest';

async function states(r: ClusterRegion, repo: string, tag: string): Promise<Record<string, string>> {
  const res = await fetch(`${r.registry}${apiPaths.where(repo, tag)}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { regions: { region: string; state: string }[] };
  return Object.fromEntries(body.regions.map((x) => [x.region, x.state]));
}

describe("one region's NATS server hangs (gateways of a supercluster): the others go on, it catches up (e2e)", function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;
  let skopeo: Skopeo;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-nats-outage-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    cluster = await Cluster.start(join(dir, 'data'));
  });
  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('eu and ap replicate while nats-us hangs; pushes into us wait in its outbox; all converge once it is back', async () => {
    const [eu, us, ap] = ['eu', 'us', 'ap'].map((n) => cluster.region(n)) as [ClusterRegion, ClusterRegion, ClusterRegion];
    // Anti-entropy copies over gRPC, not NATS: let every region finish its first pass (a retry, after
    // a peer that was not up yet at start, would otherwise copy the push into us around the hung server).
    await until(60_000, 'every region to complete anti-entropy with both peers', async () => {
      for (const r of cluster.regions) {
        const { peers } = (await (await fetch(`${r.registry}${apiPaths.replication()}`)).json()) as {
          peers: { lastAntiEntropy?: string }[];
        };
        if (peers.length !== 2 || peers.some((p) => !p.lastAntiEntropy)) return false;
      }
      return true;
    });
    const frozen = await cluster.pid('us', 'nats');
    cluster.freeze(frozen);

    const host = (r: ClusterRegion): string => r.registry.replace('http://', '');
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/outage/from-eu:v1`]);
    await skopeo.run(['copy', '--all', '--dest-tls-verify=false', `oci:${MULTI}`, `docker://${host(us)}/outage/from-us:v1`]);
    await until(
      60_000,
      'ap to hold the push into eu while nats-us hangs',
      async () => (await states(ap, 'outage/from-eu', 'v1')).ap === 'complete',
    );
    const usStatus = (await (await fetch(`${us.registry}${apiPaths.replication()}`)).json()) as { outbox: { depth: number } };
    assert.ok(usStatus.outbox.depth > 0, 'the push into us waits in its outbox');
    assert.equal((await states(ap, 'outage/from-us', 'v1')).ap, 'absent', 'nothing of us has left yet');

    cluster.thaw(frozen);
    await until(90_000, 'every region to hold both images', async () => {
      for (const [repo, r] of [
        ['outage/from-eu', us],
        ['outage/from-us', eu],
        ['outage/from-us', ap],
      ] as const) {
        if (Object.values(await states(r, repo, 'v1')).some((s) => s !== 'complete')) return false;
      }
      return true;
    });
  });
});
