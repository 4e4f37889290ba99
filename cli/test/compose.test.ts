import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStream } from 'georeg/nodes';
import { COMPOSE_DIR, COMPOSE_FILE, COMPOSE_SECURE_FILE, composeConfig, runIn, type ComposeService } from 'georeg/test-support';
import { natsConfig } from '../src/cluster/nats-config.js';
import { secureCluster } from '../src/cluster/secure.js';
import { CONTAINER_PORTS, DEFAULT_REGIONS, composeTopology, localTopology, nodeEnv } from '../src/cluster/topology.js';

const deploy = join(COMPOSE_DIR, '..');

/** `us=georeg-us:6000,ap=...` → the peer regions, sorted. */
const peerRegions = (peers: string | undefined): string[] =>
  (peers ?? '')
    .split(',')
    .map((p) => p.split('=')[0] ?? '')
    .sort();

describe('deploy/compose: docker-compose accepts every file, and it describes the topology of georeg cluster', function () {
  this.timeout(60_000);
  let secrets: string;
  let plain: { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  let secure: typeof plain;

  before(async () => {
    secrets = await mkdtemp(join(tmpdir(), 'georeg-compose-secrets-'));
    // The secure override needs its secrets (the NATS env file): as a user makes them.
    await runIn(join(COMPOSE_DIR, 'secrets.sh'), [secrets]);
    plain = await composeConfig([COMPOSE_FILE]);
    secure = await composeConfig([COMPOSE_FILE, COMPOSE_SECURE_FILE], { GEOREG_SECRETS: secrets });
  });

  after(() => rm(secrets, { recursive: true, force: true }));

  const service = (config: typeof plain, name: string): ComposeService => {
    const s = config.services[name];
    assert.ok(s, `service ${name}`);
    return s;
  };

  it('has every region of georeg cluster (its default regions), with its NATS and node, plus Prometheus and Grafana', () => {
    assert.deepEqual(
      Object.keys(plain.services).sort(),
      [...DEFAULT_REGIONS.flatMap((r) => [`nats-${r}`, `georeg-${r}`]), 'prometheus', 'grafana'].sort(),
    );
    for (const [name, s] of Object.entries(plain.services)) {
      assert.equal(s.restart, 'unless-stopped', `${name} restarts`);
      assert.ok(s.healthcheck?.test.length, `${name} has a healthcheck`);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] as string;
        if (!source.startsWith('/')) assert.ok(plain.volumes && source in plain.volumes, `${name}: ${source} is a named volume`);
      }
    }
  });

  it("gives each node the settings georeg cluster gives its node (region, NATS, replication service, peers), in the containers' ports", () => {
    const compose = composeTopology();
    const local = localTopology(DEFAULT_REGIONS, 7000, (r) => r);
    for (const r of DEFAULT_REGIONS) {
      const s = service(plain, `georeg-${r}`);
      const env = s.environment ?? {};
      for (const [k, v] of Object.entries(nodeEnv(compose, r))) assert.equal(env[k], v, `georeg-${r} ${k}`);
      assert.deepEqual(peerRegions(env.GEOREG_REPLICATION_PEERS), peerRegions(nodeEnv(local, r).GEOREG_REPLICATION_PEERS));
      assert.equal(eventStream(env.GEOREG_REGION ?? ''), eventStream(r), `georeg-${r} publishes into ${eventStream(r)}`);
      assert.deepEqual(s.depends_on, { [`nats-${r}`]: { condition: 'service_healthy' } });
      const [port] = s.ports ?? [];
      const published = port?.match(/^127\.0\.0\.1:(\d+):(\d+)\/tcp$/);
      assert.ok(published, `georeg-${r} publishes its registry port on 127.0.0.1: ${port}`);
      assert.equal(Number(published[2]), CONTAINER_PORTS.registry);
      assert.equal(env.GEOREG_PUBLIC_URL, `http://localhost:${published[1]}`, 'its public URL is the published port');
    }
  });

  it("runs each region's NATS with deploy/nats/<region>.conf, which is what georeg cluster writes for the container topology", async () => {
    const compose = composeTopology();
    for (const r of DEFAULT_REGIONS) {
      const s = service(plain, `nats-${r}`);
      assert.ok(s.volumes?.includes(`${join(deploy, 'nats', `${r}.conf`)}:/etc/nats/region.conf:ro`), `nats-${r} mounts ${r}.conf`);
      assert.deepEqual(s.command, ['--config', '/etc/nats/region.conf']);
      const file = await readFile(join(deploy, 'nats', `${r}.conf`), 'utf8');
      const withoutComments = file
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      assert.equal(withoutComments, natsConfig(compose, r), `deploy/nats/${r}.conf is natsConfig(composeTopology(), '${r}')`);
    }
  });

  it('has Prometheus scrape every region under its name (deploy/prometheus/targets/georeg.json)', async () => {
    const targets = JSON.parse(await readFile(join(deploy, 'prometheus', 'targets', 'georeg.json'), 'utf8')) as {
      targets: string[];
      labels: { region: string };
    }[];
    assert.deepEqual(
      targets,
      DEFAULT_REGIONS.map((r) => ({ targets: [`georeg-${r}:${CONTAINER_PORTS.registry}`], labels: { region: r } })),
    );
    assert.ok(service(plain, 'prometheus').volumes?.includes(`${join(deploy, 'prometheus')}:/etc/prometheus:ro`));
  });

  it('sets in the secure override what georeg cluster --secure sets (HTTPS, auth, mutual TLS, NATS password), and NATS requires it', async () => {
    const cluster = await secureCluster(join(secrets, 'cluster'));
    for (const r of DEFAULT_REGIONS) {
      const env = service(secure, `georeg-${r}`).environment ?? {};
      for (const k of Object.keys(cluster.env)) assert.ok(env[k], `georeg-${r} sets ${k}`);
      assert.equal(env.GEOREG_INSECURE_HTTP, 'false');
      assert.match(env.GEOREG_PUBLIC_URL ?? '', /^https:/);
      const nats = service(secure, `nats-${r}`);
      assert.deepEqual(nats.command, ['--config', '/etc/nats/secure.conf']);
      // docker-compose config inlines the env file secrets.sh wrote.
      assert.equal(nats.environment?.NATS_PASSWORD, await readFile(join(secrets, 'nats-password'), 'utf8'));
      assert.match(nats.environment?.NATS_PASSWORD ?? '', /^[0-9a-f]{48}$/);
    }
  });
});
