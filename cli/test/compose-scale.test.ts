import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMPOSE_DIR, COMPOSE_FILE, COMPOSE_SCALE_FILE, composeConfig, type ComposeService } from 'georeg/test-support';
import { CONTAINER_PORTS, DEFAULT_REGIONS, composeTopology, nodeEnv } from '../src/cluster/topology.js';

describe('deploy/compose with docker-compose.scale.yml: two nodes per region on PostgreSQL and Azurite, behind a front', function () {
  this.timeout(60_000);
  let config: { services: Record<string, ComposeService> };
  let plain: typeof config;

  before(async () => {
    [config, plain] = await Promise.all([composeConfig([COMPOSE_FILE, COMPOSE_SCALE_FILE]), composeConfig([COMPOSE_FILE])]);
  });

  const service = (name: string): ComposeService => {
    const s = config.services[name];
    assert.ok(s, `service ${name}`);
    return s;
  };

  it('adds PostgreSQL, Azurite and two nodes per region; georeg-<region> becomes the front over them, on the region’s port', () => {
    const nodes = DEFAULT_REGIONS.flatMap((r) => [`georeg-${r}-1`, `georeg-${r}-2`]);
    assert.deepEqual(Object.keys(config.services).sort(), [...Object.keys(plain.services), 'postgres', 'azurite', ...nodes].sort());
    for (const r of DEFAULT_REGIONS) {
      const front = service(`georeg-${r}`);
      const port = CONTAINER_PORTS.registry;
      assert.deepEqual(front.command, [
        'front',
        '--listen',
        `0.0.0.0:${port}`,
        '--node',
        `georeg-${r}-1:${port}`,
        '--node',
        `georeg-${r}-2:${port}`,
      ]);
      assert.deepEqual(front.ports, plain.services[`georeg-${r}`]?.ports, 'the front has the region’s published port');
      for (const n of [1, 2]) assert.equal(front.depends_on?.[`georeg-${r}-${n}`]?.condition, 'service_healthy');
    }
  });

  it('gives both nodes of a region the settings of georeg cluster’s node, its database and container, peers naming each region’s nodes by their alias', () => {
    const compose = composeTopology();
    for (const r of DEFAULT_REGIONS) {
      const [one, two] = [service(`georeg-${r}-1`).environment ?? {}, service(`georeg-${r}-2`).environment ?? {}];
      assert.deepEqual(one, two, `the nodes of ${r} are set alike`);
      const { GEOREG_REPLICATION_PEERS: peers, ...placed } = nodeEnv(compose, r);
      for (const [k, v] of Object.entries(placed)) assert.equal(one[k], v, `georeg-${r}-1 ${k}`);
      assert.equal(one.GEOREG_REPLICATION_PEERS, peers.replace(/=georeg-([a-z0-9-]+):/g, '=georeg-$1-nodes:'));
      for (const n of [1, 2]) assert.deepEqual(service(`georeg-${r}-${n}`).networks?.default?.aliases, [`georeg-${r}-nodes`]);
      assert.equal(one.GEOREG_PUBLIC_URL, plain.services[`georeg-${r}`]?.environment?.GEOREG_PUBLIC_URL, 'its public URL is the front’s');
      assert.equal(one.GEOREG_META_DRIVER, 'postgres');
      assert.match(one.GEOREG_META_POSTGRES_URL ?? '', new RegExp(`^postgres://georeg:[^@]+@postgres:5432/georeg_${r}$`));
      assert.equal(one.GEOREG_STORAGE_DRIVER, 'azure');
      assert.equal(one.GEOREG_STORAGE_AZURE_CONTAINER, `georeg-${r}`);
      for (const dep of ['postgres', 'azurite', `nats-${r}`])
        assert.equal(service(`georeg-${r}-1`).depends_on?.[dep]?.condition, 'service_healthy');
    }
  });

  it('has Prometheus scrape every node of every region rather than the fronts (scale/prometheus-targets.json)', async () => {
    const mount = `${join(COMPOSE_DIR, 'scale', 'prometheus-targets.json')}:/etc/prometheus/targets/georeg.json:ro`;
    assert.ok(service('prometheus').volumes?.includes(mount), 'the scale targets replace targets/georeg.json');
    const targets = JSON.parse(await readFile(join(COMPOSE_DIR, 'scale', 'prometheus-targets.json'), 'utf8')) as {
      targets: string[];
      labels: { region: string };
    }[];
    assert.deepEqual(
      targets.map((t) => [t.labels.region, t.targets]),
      DEFAULT_REGIONS.map((r) => [r, [1, 2].map((n) => `georeg-${r}-${n}:${CONTAINER_PORTS.registry}`)]),
    );
  });

  it('makes each region’s database, owned by the role the nodes connect as, when PostgreSQL starts on an empty volume', async () => {
    assert.ok(service('postgres').volumes?.some((v) => v.endsWith(':/docker-entrypoint-initdb.d/georeg.sh:ro')));
    const script = await readFile(join(COMPOSE_DIR, 'scale', 'initdb.sh'), 'utf8');
    assert.match(script, /CREATE ROLE georeg LOGIN PASSWORD :'password';/);
    for (const r of DEFAULT_REGIONS) assert.match(script, new RegExp(`CREATE DATABASE georeg_${r} OWNER georeg;`));
  });
});
