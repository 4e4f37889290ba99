/**
 * `npm run e2e:compose` (root; .ci/run runs it after npm test): deploy/compose really running, on the
 * Docker daemon the compose e2e files share (support/compose-host.ts: it builds the base images,
 * as no image registry is reached, and the georeg image). It brings the three regions and
 * Prometheus up (Grafana is left out: no image of it can be built here), and through the published
 * ports pushes, pulls, signs, enforces, stops a region and brings it back, and reads Prometheus.
 * Each phase prints its time. At the end (also on failure) `compose down -v`.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { COMPOSE_FILE, pushImage } from 'georeg/test-support';
import { until } from './support/cluster.js';
import { composeHost, phase } from './support/compose-host.js';
import { ComposeProject, prometheusQuery, type ComposePorts } from './support/compose-project.js';
import { georegCli } from './support/serve.js';
import { layoutRef, Skopeo } from './support/skopeo.js';

const SMALL = '/tmp/lab-images/small'; // built by scripts/ensure-tools.mjs
const REGIONS = ['eu', 'us', 'ap'] as const;
type Region = (typeof REGIONS)[number];
/** Grafana is not among them: there is no image of it here (README "Run a three-region cluster"). */
const SERVICES = ['georeg-eu', 'georeg-us', 'georeg-ap', 'prometheus'];

interface Target {
  health: string;
  lastScrape: string;
  labels: { region: string };
}

describe('deploy/compose: three regions and Prometheus in containers, through their published ports (e2e)', function () {
  this.timeout(600_000);
  let dir: string;
  let project: ComposeProject | undefined;
  let skopeo: Skopeo;
  /** When ap was healthy again after its outage. */
  let apBack = 0;
  let port: ComposePorts;
  const url = (r: Region): string => `http://127.0.0.1:${port[r]}`;
  const host = (r: Region): string => `127.0.0.1:${port[r]}`;
  const compose = (...args: string[]): Promise<{ stdout: string }> => (project as ComposeProject).compose(...args);
  /** Every container of the project: the services started and the regions' NATS servers. */
  const healthy = (): Promise<void> => (project as ComposeProject).healthy(SERVICES.length + REGIONS.length);

  async function tags(r: Region, repo: string): Promise<string[]> {
    const res = await fetch(`${url(r)}${apiPaths.tags(repo)}`).catch(() => undefined);
    return res?.status === 200 ? ((await res.json()) as { tags: string[] }).tags : [];
  }

  before(async () => {
    const shared = await composeHost();
    dir = shared.dir;
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    project = await ComposeProject.create(shared.dockerd, [COMPOSE_FILE], 'georeg-e2e');
    port = project.ports;
    await phase('compose up until healthy', async () => {
      await compose('up', '-d', ...SERVICES);
      await healthy();
    });
  });

  after(async () => {
    await project?.down();
  });

  it('replicates a skopeo push into eu; us and ap serve it byte-identical', async () => {
    await phase('push to eu, pull from us and ap', async () => {
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, `docker://${host('eu')}/e2e/small:v1`]);
      await until(60_000, 'e2e/small:v1 in us and ap', async () =>
        (await Promise.all([tags('us', 'e2e/small'), tags('ap', 'e2e/small')])).every((t) => t.includes('v1')),
      );
      const source = (await layoutRef(SMALL, 'latest')).digest;
      for (const r of ['us', 'ap'] as const) {
        const out = join(dir, `pulled-${r}`);
        await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host(r)}/e2e/small:v1`, `oci:${out}:v1`]);
        assert.equal((await layoutRef(out, 'v1')).digest, source, `${r} serves the manifest pushed to eu`);
        const blobs = await readdir(join(out, 'blobs', 'sha256'));
        assert.ok(blobs.length >= 3, 'manifest, config and layers');
        for (const b of blobs) {
          const [pulled, pushed] = await Promise.all([
            readFile(join(out, 'blobs', 'sha256', b)),
            readFile(join(SMALL, 'blobs', 'sha256', b)),
          ]);
          assert.ok(pulled.equals(pushed), `${r}: blob ${b} is byte-identical`);
        }
      }
      const where = await georegCli(['where', 'e2e/small:v1', '--url', url('us')]);
      assert.equal(where.code, 0, where.stderr);
      for (const r of ['eu', 'us', 'ap']) assert.match(where.stdout, new RegExp(`^${r} +complete +${source}`, 'm'), where.stdout);
    });
  });

  it('enforces a signed tag in every region: signed in eu, served in us; an unsigned tag refused there', async () => {
    await phase('sign and enforce', async () => {
      const cli = async (...args: string[]): Promise<string> => {
        const ran = await georegCli(args);
        assert.equal(ran.code, 0, `georeg ${args.join(' ')}: ${ran.stderr}`);
        return ran.stdout;
      };
      await cli('key', 'generate', '--out', join(dir, 'ci'));
      const policy = {
        identity: 'georeg.compose-e2e',
        keys: [{ name: 'ci', publicKey: await readFile(join(dir, 'ci.pub'), 'utf8') }],
        policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci'] }],
      };
      await writeFile(join(dir, 'policy.json'), JSON.stringify(policy));
      const version = /applied version (\S+)/.exec(await cli('policy', 'apply', join(dir, 'policy.json'), '--url', url('eu')))?.[1];
      assert.ok(version);
      await until(60_000, `policy ${version} in us and ap`, async () =>
        (
          await Promise.all(
            (['us', 'ap'] as const).map(
              async (r) => ((await (await fetch(`${url(r)}${apiPaths.trustPolicy()}`)).json()) as { version: string }).version,
            ),
          )
        ).every((v) => v === version),
      );
      await cli('push', `${SMALL}:latest`, `${host('eu')}/prod/app:v1`, '--sign', '--key', join(dir, 'ci.key'));
      await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, `docker://${host('eu')}/prod/app:unsigned`]);
      await until(60_000, 'both tags in us', async () => (await tags('us', 'prod/app')).length === 2);
      const manifest = (tag: string): Promise<Response> =>
        fetch(`${url('us')}${apiPaths.manifest('prod/app', tag)}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      await until(60_000, 'the signed tag to be served in us', async () => (await manifest('v1')).status === 200);
      assert.match(await cli('verify', `${host('us')}/prod/app:v1`, '--key', join(dir, 'ci.pub')), /verified/);
      assert.equal((await manifest('unsigned')).status, 403, 'enforce refuses the unsigned tag in us');
    });
  });

  it('serves the status page in every region, each seeing its two peers up', async () => {
    for (const r of REGIONS) {
      const page = await fetch(`${url(r)}${apiPaths.ui()}`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const status = (await (await fetch(`${url(r)}${apiPaths.replication()}`)).json()) as { region: string; peers: { up: boolean }[] };
      assert.equal(status.region, r);
      assert.deepEqual(
        status.peers.map((p) => p.up),
        [true, true],
      );
    }
  });

  it('keeps eu and us serving while ap is stopped, and ap catches up when it is back', async () => {
    await phase('stop ap (node and NATS)', () => compose('stop', '--timeout', '5', 'georeg-ap', 'nats-ap'));
    await assert.rejects(fetch(`${url('ap')}${apiPaths.base()}`), 'ap is down');
    await phase('push to eu while ap is down, replicated to us', async () => {
      await pushImage(url('eu'), 'e2e/outage', 'while-ap-down');
      await until(60_000, 'the push to reach us', async () => (await tags('us', 'e2e/outage')).includes('while-ap-down'));
      for (const r of ['eu', 'us'] as const) assert.equal((await fetch(`${url(r)}${apiPaths.base()}`)).status, 200);
    });
    await phase('start ap until healthy', async () => {
      await compose('start', 'nats-ap', 'georeg-ap');
      await healthy();
    });
    apBack = Date.now();
    await phase('ap converges', () =>
      until(120_000, 'ap to hold what was pushed while it was down', async () =>
        (await tags('ap', 'e2e/outage')).includes('while-ap-down'),
      ),
    );
  });

  it('has Prometheus scrape every region, with the replication-lag series of every region pair', async () => {
    await phase('Prometheus sees every region up and the lag series', async () => {
      // Scrapes since ap came back (every 15 s), each up: not a value from before the outage.
      await until(120_000, 'a successful scrape of every region since ap is back', async () => {
        const res = await fetch(`http://127.0.0.1:${port.prometheus}/api/v1/targets`);
        const { activeTargets } = ((await res.json()) as { data: { activeTargets: Target[] } }).data;
        const fresh = activeTargets.filter((t) => t.health === 'up' && Date.parse(t.lastScrape) > apBack);
        return (
          fresh
            .map((t) => t.labels.region)
            .sort()
            .join() === [...REGIONS].sort().join()
        );
      });
      const lag = await prometheusQuery<{ metric: { source: string; target: string } }>(
        port.prometheus,
        'georeg_replication_lag_seconds{job="georeg"}',
      );
      const pairs = lag.map((s) => `${s.metric.source}->${s.metric.target}`).sort();
      const expected = REGIONS.flatMap((t) => REGIONS.filter((s) => s !== t).map((s) => `${s}->${t}`)).sort();
      assert.deepEqual(pairs, expected);
    });
  });

  it('compose down -v removes the containers and volumes', async () => {
    await phase('compose down -v', () => compose('down', '-v', '--timeout', '5'));
    assert.equal((await compose('ps', '-q')).stdout.trim(), '');
    assert.equal((await (await composeHost()).dockerd.docker(['volume', 'ls', '-q'])).trim(), '');
  });
});
