/**
 * `npm run e2e:compose`, after compose-stack.e2e.ts on the same Docker daemon and georeg image
 * (support/compose-host.ts): deploy/compose with docker-compose.scale.yml really running, two nodes
 * per region over PostgreSQL and Azurite behind each region's `georeg front`. No image registry is
 * reached, so PostgreSQL and Azurite are local stand-ins (e2e/images/: Debian's PostgreSQL 15, the
 * npm package azurite) named by POSTGRES_IMAGE and AZURITE_IMAGE. Through the fronts' published
 * ports it pushes into eu, pulls from both of eu's nodes and from the other regions, reads
 * Prometheus's scrape of every node, and with eu's first node stopped pulls from eu and a push into
 * eu that reaches us and ap (they reach eu's nodes by the alias georeg-eu-nodes). At the end
 * (also on failure) `compose down -v`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { COMPOSE_FILE, COMPOSE_SCALE_FILE } from 'georeg/test-support';
import { until } from './support/cluster.js';
import { composeHost, phase } from './support/compose-host.js';
import { ComposeProject, prometheusQuery, type ComposePorts } from './support/compose-project.js';
import { repoRoot } from './support/process.js';
import { layoutRef, Skopeo } from './support/skopeo.js';

const SMALL = '/tmp/lab-images/small'; // built by scripts/ensure-tools.mjs
const REGIONS = ['eu', 'us', 'ap'] as const;
type Region = (typeof REGIONS)[number];
const NODES = REGIONS.flatMap((r) => [`georeg-${r}-1`, `georeg-${r}-2`]);
/** The fronts and Prometheus; compose starts what they depend on: nodes, NATS, PostgreSQL, Azurite. */
const SERVICES = ['georeg-eu', 'georeg-us', 'georeg-ap', 'prometheus'];
const CONTAINERS = SERVICES.length + NODES.length + REGIONS.length + 2;
const POSTGRES_IMAGE = 'georeg-e2e/postgres:15';
const AZURITE_IMAGE = 'georeg-e2e/azurite:3';
const REPO = 'e2e/scale';

describe('deploy/compose with docker-compose.scale.yml: two nodes per region on PostgreSQL and Azurite, behind fronts (e2e)', function () {
  this.timeout(600_000);
  let project: ComposeProject | undefined;
  let skopeo: Skopeo;
  let dir: string;
  let source: string;
  let port: ComposePorts;
  const host = (r: Region): string => `127.0.0.1:${port[r]}`;
  const compose = (...args: string[]): Promise<{ stdout: string }> => (project as ComposeProject).compose(...args);

  /** Pull REPO:v1 through `r`'s front into a new layout; resolves with the manifest digest pulled. */
  let pulls = 0;
  async function pull(r: Region): Promise<string> {
    const out = join(dir, `scale-pulled-${r}-${++pulls}`);
    await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host(r)}/${REPO}:v1`, `oci:${out}:v1`]);
    return (await layoutRef(out, 'v1')).digest;
  }

  async function tags(r: Region): Promise<string[]> {
    const res = await fetch(`http://${host(r)}${apiPaths.tags(REPO)}`).catch(() => undefined);
    return res?.status === 200 ? ((await res.json()) as { tags: string[] }).tags : [];
  }

  /** The GETs of REPO's manifests and blobs that `node` answered 200, from its request log. */
  async function servedGets(node: string): Promise<number> {
    const log = (await compose('logs', '--no-color', node)).stdout;
    return log
      .split('\n')
      .map((line) => line.slice(line.indexOf('{')))
      .filter((json) => json.startsWith('{"'))
      .map((json) => JSON.parse(json) as { msg?: string; method?: string; path?: string; status?: number })
      .filter((e) => e.msg === 'request' && e.method === 'GET' && e.status === 200 && e.path?.startsWith(`/v2/${REPO}/`)).length;
  }

  before(async () => {
    const shared = await composeHost();
    dir = shared.dir;
    skopeo = await Skopeo.create(join(dir, 'scale-skopeo-cache'));
    source = (await layoutRef(SMALL, 'latest')).digest;
    await phase('build the PostgreSQL and Azurite stand-ins (e2e/images)', async () => {
      await shared.dockerd.docker(['build', '--quiet', '-t', POSTGRES_IMAGE, join(repoRoot, 'e2e', 'images', 'postgres')]);
      const azurite = join(repoRoot, 'e2e', 'images', 'azurite', 'Dockerfile');
      await shared.dockerd.docker(['build', '--quiet', '-t', AZURITE_IMAGE, '-f', azurite, repoRoot]);
    });
    project = await ComposeProject.create(shared.dockerd, [COMPOSE_FILE, COMPOSE_SCALE_FILE], 'georeg-e2e-scale', {
      POSTGRES_IMAGE,
      AZURITE_IMAGE,
    });
    port = project.ports;
    await phase('compose up (scale) until healthy', async () => {
      await compose('up', '-d', ...SERVICES);
      await (project as ComposeProject).healthy(CONTAINERS);
    });
  });

  after(async () => {
    await project?.down();
  });

  it("answers /v2/ on every region's front", async () => {
    for (const r of REGIONS) assert.equal((await fetch(`http://${host(r)}${apiPaths.base()}`)).status, 200, r);
  });

  it("takes a push through eu's front and serves it from both of eu's nodes through the front", async () => {
    await phase('push to eu, four pulls through its front', async () => {
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, `docker://${host('eu')}/${REPO}:v1`]);
      for (let i = 0; i < 4; i++) assert.equal(await pull('eu'), source, 'eu serves the manifest pushed');
    });
    for (const node of ['georeg-eu-1', 'georeg-eu-2']) assert.ok((await servedGets(node)) > 0, `${node} served some of the pulls`);
  });

  it('replicates it into us and ap, each serving it through its front', async () => {
    await phase('replicated into us and ap', async () => {
      await until(60_000, `${REPO}:v1 in us and ap`, async () =>
        (await Promise.all([tags('us'), tags('ap')])).every((t) => t.includes('v1')),
      );
      for (const r of ['us', 'ap'] as const) assert.equal(await pull(r), source, `${r} serves the manifest pushed to eu`);
    });
  });

  it('has Prometheus scrape every node of every region (deploy/compose/scale/prometheus-targets.json), each up', async () => {
    await phase('Prometheus sees every node up', () =>
      until(60_000, 'an up series of value 1 for each of the six nodes', async () => {
        const up = await prometheusQuery<{ metric: { instance: string }; value: [number, string] }>(port.prometheus, 'up{job="georeg"}');
        const instances = up
          .filter((s) => s.value[1] === '1')
          .map((s) => s.metric.instance)
          .sort();
        return (
          instances.join() ===
          NODES.map((n) => `${n}:5000`)
            .sort()
            .join()
        );
      }),
    );
  });

  it("keeps serving pulls through eu's front with eu's first node stopped", async () => {
    await phase('stop georeg-eu-1', () => compose('stop', '--timeout', '5', 'georeg-eu-1'));
    await phase('pulls through eu with georeg-eu-1 down', async () => {
      for (let i = 0; i < 6; i++) assert.equal((await fetch(`http://${host('eu')}${apiPaths.base()}`)).status, 200, `/v2/ #${i}`);
      for (let i = 0; i < 3; i++) assert.equal(await pull('eu'), source, 'eu serves the manifest through georeg-eu-2');
    });
  });

  it("replicates a push through eu's front with eu's first node stopped into us and ap (they reach eu's nodes by one name)", async () => {
    await phase('push v2 to eu with georeg-eu-1 down, replicated into us and ap', async () => {
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, `docker://${host('eu')}/${REPO}:v2`]);
      await until(60_000, `${REPO}:v2 in us and ap`, async () =>
        (await Promise.all([tags('us'), tags('ap')])).every((t) => t.includes('v2')),
      );
    });
  });
});
