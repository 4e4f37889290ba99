/**
 * Black box: `georeg cluster --nodes-per-region 2 --storage azure --meta postgres` with two
 * regions: per region two nodes over one database (on the local PostgreSQL) and one container of
 * the cluster's Azurite, behind a front on the region's port. A push through eu's front is served
 * by every eu node and replicated to us; a node killed with SIGKILL is restarted while the front
 * goes on serving from the other.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { apiPaths } from 'georeg/oci';
import { DEFAULT_TEST_PG_URL, http, pushImage, sha256 } from 'georeg/test-support';
import { Cluster, processesUnder, until } from './support/cluster.js';

const ADMIN = process.env.GEOREG_TEST_PG_URL ?? DEFAULT_TEST_PG_URL;
const REGIONS = ['eu', 'us'];

describe('georeg cluster --nodes-per-region 2 --storage azure --meta postgres (e2e, black box)', function () {
  this.timeout(90_000);
  let dir: string;
  let cluster: Cluster;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-scale-out-cluster-'));
    const args = ['--nodes-per-region', '2', '--storage', 'azure', '--meta', 'postgres', '--postgres', ADMIN];
    cluster = await Cluster.start(join(dir, 'data'), REGIONS, args);
  });

  after(async () => {
    await cluster?.stop();
    // The cluster keeps its databases for a restart on the same data: dropped here, named in each region's pg-url.
    const admin = new pg.Client({ connectionString: ADMIN });
    await admin.connect();
    try {
      for (const r of REGIONS) {
        const url = await readFile(join(dir, 'data', r, 'pg-url'), 'utf8').catch(() => undefined);
        if (url) await admin.query(`DROP DATABASE IF EXISTS ${new URL(url.trim()).pathname.slice(1)} WITH (FORCE)`);
      }
    } finally {
      await admin.end();
    }
    await rm(dir, { recursive: true, force: true });
  });

  const manifestAt = async (base: string, repo: string, tag: string): Promise<string | undefined> => {
    const res = await http('GET', `${base}${apiPaths.manifest(repo, tag)}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    return res.status === 200 ? sha256(res.body) : undefined;
  };

  it('serves a push through eu’s front from every eu node, and replicates it to us', async () => {
    const [eu, us] = [cluster.region('eu'), cluster.region('us')];
    assert.equal(eu.nodes?.length, 2, 'cluster.json lists eu’s two nodes');
    const { digest } = await pushImage(eu.registry, 'scale/app', 'v1', ['layer one', 'layer two']);
    for (const node of eu.nodes ?? []) assert.equal(await manifestAt(node, 'scale/app', 'v1'), digest, `${node} serves it`);
    await until(30_000, 'us to hold it', async () => (await manifestAt(us.registry, 'scale/app', 'v1')) === digest);
    for (const node of us.nodes ?? []) assert.equal(await manifestAt(node, 'scale/app', 'v1'), digest, `${node} serves it`);
  });

  it('restarts a node killed with SIGKILL, the front serving from the other meanwhile', async () => {
    const eu = cluster.region('eu');
    const { digest } = await pushImage(eu.registry, 'scale/kill', 'v1');
    const victim = (await processesUnder(cluster.process.pid as number)).find(({ argv }) => argv.some((a) => a.endsWith('/eu/registry-1')));
    assert.ok(victim, 'eu’s first node runs under the cluster');
    process.kill(victim.pid, 'SIGKILL');
    for (let i = 0; i < 4; i++) {
      const res = await http('GET', `${eu.registry}${apiPaths.manifest('scale/kill', 'v1')}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(res.status, 200, `GET ${i} through the front: ${res.status} ${res.body.toString().slice(0, 300)}`);
      assert.equal(sha256(res.body), digest);
    }
    await until(
      20_000,
      'the node restarted and answering',
      async () => (await manifestAt(eu.nodes?.[0] as string, 'scale/kill', 'v1')) === digest,
    );
    assert.match(cluster.stderr, new RegExp(`region eu: node \\(pid ${victim.pid}\\) killed by SIGKILL`));
  });
});
