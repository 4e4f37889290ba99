import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Skopeo } from './support/skopeo.js';
import { spawn } from 'node:child_process';
import { cliMain } from './support/process.js';
import { Cluster, freePortBase, processesUnder, until, type ClusterRegion } from './support/cluster.js';
import { apiPaths } from 'georeg/oci';

for (const mode of [[], ['--separate-replicators']]) {
  describe(`georeg cluster${mode.map((m) => ` ${m}`).join('')}: three regions, NATS gateways, replication (e2e, black box)`, function () {
    this.timeout(120_000);
    let dir: string;
    let cluster: Cluster;
    let info: { regions: ClusterRegion[] };
    let skopeo: Skopeo;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'georeg-cluster-'));
      skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
      cluster = await Cluster.start(join(dir, 'data'), ['eu', 'us', 'ap'], mode);
      info = cluster;
    });

    after(async () => {
      await cluster?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('writes cluster.json with every region, each answering /v2/', async () => {
      assert.deepEqual(
        info.regions.map((r) => r.name),
        ['eu', 'us', 'ap'],
      );
      for (const r of info.regions) assert.equal((await fetch(`${r.registry}${apiPaths.base()}`)).status, 200);
    });

    it('says where everything is when ready, and keeps the NATS servers’ logs in a file per region', async () => {
      for (const r of info.regions) {
        const natsLog = join(dir, 'data', r.name, 'nats.log');
        assert.match(
          cluster.stdout,
          new RegExp(`^  ${r.name}  ${r.registry}  status page ${r.registry}${apiPaths.ui()}  NATS log ${natsLog}$`, 'm'),
        );
        assert.match(await readFile(natsLog, 'utf8'), /Server is ready/);
      }
      assert.match(cluster.stdout, /Ctrl-C \(or SIGTERM\) stops the cluster/);
      assert.doesNotMatch(cluster.stderr, /Starting nats-server|JETSTREAM/, 'no NATS banner on the terminal');
    });

    it('replicates a skopeo push into eu to us and ap, byte-identical, and says so per region', async () => {
      const [eu, us, ap] = info.regions;
      assert.ok(eu && us && ap);
      const host = (u: string): string => u.replace('http://', '');
      await skopeo.run([
        'copy',
        '--dest-tls-verify=false',
        'oci:/tmp/lab-images/small:latest',
        `docker://${host(eu.registry)}/demo/small:v1`,
      ]);
      await until(60_000, 'the image to be complete in every region', async () => {
        const res = await fetch(`${us.registry}${apiPaths.where('demo/small', 'v1')}`);
        const body = (await res.json()) as { regions: { state: string }[] };
        return body.regions.length === 3 && body.regions.every((r) => r.state === 'complete');
      });
      const fromEu = await fetch(`${eu.registry}${apiPaths.manifest('demo/small', 'v1')}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const euBytes = Buffer.from(await fromEu.arrayBuffer());
      for (const r of [us, ap]) {
        const res = await fetch(`${r.registry}${apiPaths.manifest('demo/small', 'v1')}`, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), euBytes, `${r.name} serves the same manifest`);
      }
      const pulled = await skopeo.run(['inspect', '--tls-verify=false', `docker://${host(ap.registry)}/demo/small:v1`]);
      assert.match(pulled.stdout, /"Layers"/);
    });

    it('runs a node per region, and with --separate-replicators a replicate process beside each', async () => {
      const commands = (await processesUnder(cluster.process.pid as number))
        .map((p) => p.argv[2])
        .filter((c) => c === 'serve' || c === 'replicate');
      assert.deepEqual(
        commands.sort(),
        mode.length ? ['replicate', 'replicate', 'replicate', 'serve', 'serve', 'serve'] : ['serve', 'serve', 'serve'],
      );
    });

    it('stops every process and exits 0 on SIGTERM', async () => {
      const exited = new Promise<number | null>((res) => cluster.process.once('exit', (code) => res(code)));
      cluster.process.kill('SIGTERM');
      assert.equal(await exited, 0, cluster.stderr.slice(-2000));
      for (const r of info.regions) await assert.rejects(fetch(`${r.registry}${apiPaths.base()}`));
    });
  });
}

describe('georeg cluster: SIGTERM while it is still starting (e2e, black box)', function () {
  this.timeout(120_000);

  it('stops what it started at once, without waiting to be ready, and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-cluster-early-'));
    const child = spawn(
      process.execPath,
      [cliMain, 'cluster', '--regions', 'eu,us', '--data', join(dir, 'data'), '--port-base', String(await freePortBase(20))],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GEOREG_LOG_ACCESS: 'false' },
        detached: true,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      // Both nodes spawned: JetStream's leader election keeps them from being ready for seconds yet.
      let started: { pid: number; argv: string[] }[] = [];
      await until(30_000, 'the nodes to be spawned', async () => {
        started = await processesUnder(child.pid as number);
        return started.filter((p) => p.argv[2] === 'serve').length === 2;
      });
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr.slice(-2000));
      assert.doesNotMatch(stdout, /cluster ready/, 'it was stopped before it was ready');
      assert.match(stderr, /stopping before it was ready \(SIGTERM\)/);
      for (const p of started) assert.throws(() => process.kill(p.pid, 0), /ESRCH/, `${p.argv.slice(1, 3).join(' ')} is gone`);
    } finally {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // the group is gone already
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});
