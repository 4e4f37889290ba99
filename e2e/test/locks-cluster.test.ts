/**
 * Locks (ACR's changeable attributes) across three regions (issue 20): a lock is a record of its
 * own, versioned by the hybrid logical clock, so an older write of the locked tag replicating from
 * another region cannot take the lock away (ACR lost one that way: Azure/acr#592). The lock holds
 * in every region and refuses pushes and deletes there; a later unlock, anywhere, wins everywhere.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { layoutRef, Skopeo, skopeoFails } from './support/skopeo.js';

const SMALL = '/tmp/lab-images/small'; // built by npm test's pretest
const MULTI = '/tmp/lab-images/multi'; // its amd64 image is another single manifest

interface TagView {
  digest: string;
  changeableAttributes: { writeEnabled: boolean; deleteEnabled: boolean };
}

const host = (r: ClusterRegion): string => r.registry.replace('http://', '');

async function tagOf(r: ClusterRegion, repo: string, tag: string): Promise<TagView | undefined> {
  const res = await fetch(`${r.registry}${apiPaths.acrTag(repo, tag)}`);
  return res.status === 200 ? ((await res.json()) as { tag: TagView }).tag : undefined;
}

async function patchTag(r: ClusterRegion, repo: string, tag: string, attributes: Record<string, boolean>): Promise<void> {
  const res = await fetch(`${r.registry}${apiPaths.acrTag(repo, tag)}`, { method: 'PATCH', body: JSON.stringify(attributes) });
  assert.equal(res.status, 200, await res.text());
}

describe('locks across three regions (e2e, black box)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;
  let skopeo: Skopeo;
  let regions: ClusterRegion[];
  let eu: ClusterRegion, us: ClusterRegion, ap: ClusterRegion;
  const push = (layout: string, tag: string, r: ClusterRegion): Promise<unknown> =>
    skopeo.run(['copy', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${host(r)}/team/app:v1`]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-locks-e2e-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    cluster = await Cluster.start(join(dir, 'data'));
    regions = [eu, us, ap] = [cluster.region('eu'), cluster.region('us'), cluster.region('ap')];
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a lock set in eu while an older write of the tag waits in us holds in every region once that write replicates', async () => {
    const small = (await layoutRef(SMALL, 'latest')).digest;
    const amd64 = (await layoutRef(MULTI, 'amd64')).digest;
    await push(SMALL, 'latest', eu);
    await until(60_000, 'team/app:v1 in every region', async () =>
      (await Promise.all(regions.map((r) => tagOf(r, 'team/app', 'v1')))).every((t) => t?.digest === small),
    );

    // us writes the tag while its NATS server hangs: the write is acknowledged, its event waits in us's outbox.
    const nats = await cluster.pid('us', 'nats');
    cluster.freeze(nats);
    try {
      await push(MULTI, 'amd64', us);
      await patchTag(eu, 'team/app', 'v1', { writeEnabled: false, deleteEnabled: false });
      await until(30_000, 'the lock in ap', async () => (await tagOf(ap, 'team/app', 'v1'))?.changeableAttributes.writeEnabled === false);
    } finally {
      cluster.thaw(nats);
    }

    // us's older write replicates (the tag converges on it, as last writer) and the lock stays, everywhere.
    await until(60_000, 'one image and the lock in every region', async () => {
      const tags = await Promise.all(regions.map((r) => tagOf(r, 'team/app', 'v1')));
      return tags.every(
        (t) => t?.digest === amd64 && t.changeableAttributes.writeEnabled === false && !t.changeableAttributes.deleteEnabled,
      );
    });
    for (const r of regions) {
      const refused = await skopeoFails(() => push(SMALL, 'latest', r), `a push to the locked tag in ${r.name}`);
      assert.match(refused.message, /locked/, r.name);
      const del = await fetch(`${r.registry}${apiPaths.manifest('team/app', 'v1')}`, { method: 'DELETE' });
      assert.equal(del.status, 423, `${r.name}: ${await del.text()}`);
      assert.equal((await tagOf(r, 'team/app', 'v1'))?.digest, amd64, `${r.name} kept the tag`);
    }
  });

  it('an unlock in ap, the newest change, lifts the lock in every region', async () => {
    await patchTag(ap, 'team/app', 'v1', { writeEnabled: true, deleteEnabled: true });
    await until(30_000, 'the unlock in every region', async () =>
      (await Promise.all(regions.map((r) => tagOf(r, 'team/app', 'v1')))).every((t) => t?.changeableAttributes.writeEnabled === true),
    );
    await push(SMALL, 'latest', us);
  });
});
