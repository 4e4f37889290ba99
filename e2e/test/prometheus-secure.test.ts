import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, until } from './support/cluster.js';
import { Prometheus } from './support/prometheus.js';

describe('Prometheus against georeg cluster --secure, with the files the cluster writes (e2e, real prometheus)', function () {
  this.timeout(120_000);
  let dir: string;
  let cluster: Cluster | undefined;
  let prom: Prometheus | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-prometheus-secure-'));
    cluster = await Cluster.start(join(dir, 'data'), ['eu', 'us', 'ap'], ['--secure']);
  });
  after(async () => {
    await prom?.stop();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('scrapes every region over HTTPS, trusting the cluster CA, with no editing', async () => {
    const written = join(dir, 'data', 'prometheus');
    const config = await readFile(join(written, 'prometheus.yml'), 'utf8');
    assert.match(config, /scheme: https\n\s+tls_config:\n\s+ca_file: ".*ca\.pem"/);
    assert.match(cluster?.stdout ?? '', new RegExp(`Prometheus for it: prometheus --config\\.file=${join(written, 'prometheus.yml')}`));
    prom = await Prometheus.fromCluster(written, join(dir, 'prometheus'), join(dir, 'tsdb'));
    let up: { metric: Record<string, string>; value: [number, string] }[] = [];
    await until(60_000, 'every region scraped and up', async () => {
      up = await (prom as Prometheus).query('up{job="georeg"}');
      return up.length === 3 && up.every((s) => s.value[1] === '1');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(up)}`);
    });
    assert.deepEqual(up.map((s) => s.metric.region).sort(), ['ap', 'eu', 'us']);
    assert.ok((await prom.query('georeg_replication_peer_up')).length >= 6, 'each region reports its two peers');
  });
});
