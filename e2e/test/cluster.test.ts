import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { cliMain } from './support/process.js';
import { Skopeo } from './support/skopeo.js';

interface ClusterJson {
  regions: { name: string; registry: string; replication: string; nats: string }[];
}

/** Whether ports [base, base+n) are all free on 127.0.0.1 right now. */
async function free(base: number, n: number): Promise<boolean> {
  for (let p = base; p < base + n; p++) {
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (!ok) return false;
  }
  return true;
}

/** Poll `check` until it returns true or `ms` pass (there is no event to await across processes). */
async function until(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('georeg cluster: three regions, NATS gateways, replication (e2e, black box)', function () {
  this.timeout(120_000);
  let dir: string;
  let cluster: ChildProcess;
  let stderr = '';
  let info: ClusterJson;
  let skopeo: Skopeo;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-cluster-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    let base = 20000 + Math.floor(Math.random() * 2000) * 10;
    while (!(await free(base, 30))) base += 30;
    cluster = spawn(process.execPath, [cliMain, 'cluster', '--regions', 'eu,us,ap', '--data', join(dir, 'data'), '--port-base', String(base)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GEOREG_LOG_ACCESS: 'false' },
    });
    cluster.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      cluster.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('cluster ready')) resolve();
      });
      cluster.once('exit', (code) => reject(new Error(`georeg cluster exited with ${code}:\n${stderr.slice(-3000)}`)));
    });
    info = JSON.parse(await readFile(join(dir, 'data', 'cluster.json'), 'utf8')) as ClusterJson;
  });

  after(async () => {
    if (cluster && cluster.exitCode === null) {
      cluster.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('writes cluster.json with every region, each answering /v2/', async () => {
    assert.deepEqual(info.regions.map((r) => r.name), ['eu', 'us', 'ap']);
    for (const r of info.regions) assert.equal((await fetch(`${r.registry}/v2/`)).status, 200);
  });

  it('replicates a skopeo push into eu to us and ap, byte-identical, and says so per region', async () => {
    const [eu, us, ap] = info.regions;
    assert.ok(eu && us && ap);
    const host = (u: string): string => u.replace('http://', '');
    await skopeo.run(['copy', '--dest-tls-verify=false', 'oci:/tmp/lab-images/small:latest', `docker://${host(eu.registry)}/demo/small:v1`]);
    await until(60_000, 'the image to be complete in every region', async () => {
      const res = await fetch(`${us.registry}/georeg/v1/where/demo/small/v1`);
      const body = (await res.json()) as { regions: { state: string }[] };
      return body.regions.length === 3 && body.regions.every((r) => r.state === 'complete');
    });
    const fromEu = await fetch(`${eu.registry}/v2/demo/small/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const euBytes = Buffer.from(await fromEu.arrayBuffer());
    for (const r of [us, ap]) {
      const res = await fetch(`${r.registry}/v2/demo/small/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), euBytes, `${r.name} serves the same manifest`);
    }
    const pulled = await skopeo.run(['inspect', '--tls-verify=false', `docker://${host(ap.registry)}/demo/small:v1`]);
    assert.match(pulled.stdout, /"Layers"/);
  });

  it('stops every process and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((res) => cluster.once('exit', (code) => res(code)));
    cluster.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.slice(-2000));
    for (const r of info.regions) await assert.rejects(fetch(`${r.registry}/v2/`));
  });
});
