import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Action, ReplicationClient, type Event, type StatusReply } from 'georeg/proto';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { connect } from 'nats';
import { eventStream, silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, pushImage, sha256, type Node } from './support.js';

interface Where {
  regions: { region: string; state: string; digest?: string }[];
}

interface Status {
  region: string;
  peers: { region: string; pendingEvents: number; lagSeconds: number; lastError?: string }[];
}

interface Region {
  name: string;
  node: Node;
  server: RunningReplicationServer;
  replicator?: Replicator;
}

/** Resolves when `r` has applied an event matching `match`. */
function applied(r: Replicator, match: (e: Event) => boolean): Promise<Event> {
  return new Promise((resolve) => {
    const on = (e: Event): void => {
      if (!match(e)) return;
      r.off('applied', on);
      resolve(e);
    };
    r.on('applied', on);
  });
}

async function get(base: string, path: string): Promise<{ status: number; body: Buffer; type: string | null }> {
  const res = await fetch(`${base}${path}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

async function putPolicy(base: string, doc: unknown): Promise<string> {
  const res = await fetch(`${base}/georeg/v1/trust/policy`, { method: 'PUT', body: JSON.stringify(doc) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { version: string }).version;
}

async function policyVersion(base: string): Promise<string> {
  return ((await (await fetch(`${base}/georeg/v1/trust/policy`)).json()) as { version: string }).version;
}

/** Policy versions `<wall>.<logical>@<region>` in HLC order. */
function compareVersion(x: string, y: string): number {
  const parse = (v: string): [number, number, string] => {
    const m = /^(\d+)\.(\d+)@(.+)$/.exec(v);
    return [Number(m?.[1]), Number(m?.[2]), m?.[3] ?? ''];
  };
  const [a, b] = [parse(x), parse(y)];
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

async function scrape(base: string): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

/** The value of one exact series (`name{labels}` as the text format writes it); 0 when absent. */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('replication between regions (real nats-server, real gRPC)', function () {
  this.timeout(30_000);
  let nats: TestNats;
  const regions: Region[] = [];
  const region = (name: string): Region => regions.find((r) => r.name === name) as Region;

  before(async () => {
    nats = await TestNats.start();
    for (const name of ['eu', 'us']) {
      const n = await node({ region: name, nats: { url: nats.url } });
      const server = await startReplicationServer(n.registry, { host: '127.0.0.1', port: 0 }, { region: name, log: silentLogger });
      regions.push({ name, node: n, server });
    }
    for (const r of regions) {
      const peers = regions.filter((p) => p !== r).map((p) => ({ region: p.name, address: `127.0.0.1:${p.server.port}` }));
      r.replicator = new Replicator({
        region: r.name,
        natsUrl: nats.url,
        peers,
        store: new LocalRegionStore(r.node.registry, r.node.clock),
        log: silentLogger,
        maxBackoffMs: 300,
        failoverMs: 200,
      });
      await r.replicator.start();
      r.node.status.replication = r.replicator;
    }
  });
  after(async () => {
    for (const r of regions) {
      await r.replicator?.stop();
      await r.server.close();
      await r.node.close();
    }
    await nats?.destroy();
  });

  it('a push in one region is pulled byte-identical from the other', async () => {
    const eu = region('eu');
    const us = region('us');
    const layer = randomBytes(1024 * 1024 + 17);
    const done = applied(us.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.repository === 'team/app');
    const img = await pushImage(eu.node.url, 'team/app', 'v1', layer);
    await done;
    const m = await get(us.node.url, '/v2/team/app/manifests/v1');
    assert.equal(m.status, 200);
    assert.deepEqual(m.body, img.manifest);
    assert.equal(m.type, 'application/vnd.oci.image.manifest.v1+json');
    const blob = await get(us.node.url, `/v2/team/app/blobs/${img.layer}`);
    assert.equal(blob.status, 200);
    assert.equal(sha256(blob.body), img.layer);

    const where = (await (await fetch(`${eu.node.url}/georeg/v1/where/team/app/v1`)).json()) as Where;
    assert.deepEqual(
      where.regions.map((r) => [r.region, r.state, r.digest]),
      [
        ['eu', 'complete', img.digest],
        ['us', 'complete', img.digest],
      ],
    );
    const none = (await (await fetch(`${us.node.url}/georeg/v1/where/team/app/nope`)).json()) as Where;
    assert.deepEqual(
      none.regions.map((r) => [r.region, r.state]),
      [
        ['us', 'absent'],
        ['eu', 'absent'],
      ],
    );

    const metrics = await scrape(us.node.url);
    const pair = '{source="eu",target="us"}';
    assert.ok(metric(metrics, `georeg_replication_events_applied_total${pair}`) >= 2);
    assert.ok(metric(metrics, `georeg_replication_blobs_total${pair}`) >= 2, 'config and layer');
    assert.ok(metric(metrics, `georeg_replication_bytes_total${pair}`) >= layer.length);
    assert.equal(metric(metrics, `georeg_replication_peer_up${pair}`), 1);
    assert.equal(metric(metrics, `georeg_replication_pending_events${pair}`), 0);
    assert.equal(metric(metrics, `georeg_replication_lag_seconds${pair}`), 0);
  });

  it('does not echo replicated changes back as events of the region that applied them', async () => {
    await region('us').node.publisher?.drained();
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await nc.jetstreamManager();
      assert.equal((await jsm.streams.info(eventStream('eu'))).state.messages, 2, 'eu published its manifest and its tag');
      assert.equal((await jsm.streams.info(eventStream('us'))).state.messages, 0, 'us published nothing');
    } finally {
      await nc.close();
    }
  });

  it('propagates a tag delete', async () => {
    const eu = region('eu');
    const us = region('us');
    const done = applied(us.replicator as Replicator, (e) => e.action === Action.TAG_DELETE && e.tag === 'v1');
    const res = await fetch(`${eu.node.url}/v2/team/app/manifests/v1`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    await done;
    assert.equal((await get(us.node.url, '/v2/team/app/manifests/v1')).status, 404);
  });

  it('propagates a manifest delete, with the tags pointing at it', async () => {
    const eu = region('eu');
    const us = region('us');
    const tagged = applied(us.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.repository === 'team/gone');
    const img = await pushImage(eu.node.url, 'team/gone', 'v1', randomBytes(512));
    await tagged;
    assert.equal((await get(us.node.url, '/v2/team/gone/manifests/v1')).status, 200);
    const done = applied(us.replicator as Replicator, (e) => e.action === Action.MANIFEST_DELETE && e.repository === 'team/gone');
    assert.equal((await fetch(`${eu.node.url}/v2/team/gone/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
    await done;
    assert.equal((await get(us.node.url, `/v2/team/gone/manifests/${img.digest}`)).status, 404);
    assert.equal((await get(us.node.url, '/v2/team/gone/manifests/v1')).status, 404);
  });

  it('reports pending events, lag and the error while a peer is unreachable, and catches up when it is back', async () => {
    const eu = region('eu');
    const us = region('us');
    const replicator = us.replicator as Replicator;
    const port = eu.server.port;
    await eu.server.close();

    const failed = new Promise((resolve) => replicator.once('failed', resolve));
    const probedDown = new Promise<void>((resolve) => {
      const on = (peer: string, up: boolean): void => {
        if (peer !== 'eu' || up) return;
        replicator.off('probed', on);
        resolve();
      };
      replicator.on('probed', on);
    });
    const img = await pushImage(eu.node.url, 'team/later', 'v1', randomBytes(2048));
    await Promise.all([failed, probedDown]);
    const down = (await (await fetch(`${us.node.url}/georeg/v1/replication`)).json()) as Status;
    assert.equal(down.region, 'us');
    const [peer] = down.peers;
    assert.equal(peer?.region, 'eu');
    assert.ok((peer?.pendingEvents ?? 0) >= 1, 'the events wait');
    assert.ok((peer?.lagSeconds ?? -1) >= 0);
    assert.ok(peer?.lastError, 'the error is reported');
    const where = (await (await fetch(`${us.node.url}/georeg/v1/where/team/later/v1`)).json()) as Where;
    assert.deepEqual(
      where.regions.map((r) => [r.region, r.state]),
      [
        ['us', 'absent'],
        ['eu', 'unreachable'],
      ],
    );
    const metrics = await scrape(us.node.url);
    assert.ok(metric(metrics, 'georeg_replication_failures_total{source="eu",target="us",reason="unreachable"}') >= 1);
    assert.equal(metric(metrics, 'georeg_replication_peer_up{source="eu",target="us"}'), 0);
    assert.ok(metric(metrics, 'georeg_replication_pending_events{source="eu",target="us"}') >= 1);

    const done = applied(replicator, (e) => e.action === Action.TAG_PUT && e.repository === 'team/later');
    eu.server = await startReplicationServer(eu.node.registry, { host: '127.0.0.1', port }, { region: 'eu', log: silentLogger });
    await done;
    assert.equal(sha256((await get(us.node.url, '/v2/team/later/manifests/v1')).body), img.digest);
    const grpc = await startReplicationServer(
      us.node.registry,
      { host: '127.0.0.1', port: 0 },
      { region: 'us', log: silentLogger, status: () => us.node.status.snapshot() },
    );
    const client = new ReplicationClient(`127.0.0.1:${grpc.port}`, credentials.createInsecure());
    const reply = await new Promise<StatusReply>((resolve, reject) =>
      client.status({ probe: false }, (err: ServiceError | null, res: StatusReply) => (err ? reject(err) : resolve(res))),
    );
    client.close();
    await grpc.close();
    assert.deepEqual(
      reply.peers.map((p) => [p.region, p.pendingEvents]),
      [['eu', 0]],
      'the Status RPC reports the same',
    );
    const up = (await (await fetch(`${us.node.url}/georeg/v1/replication`)).json()) as Status;
    assert.deepEqual(
      up.peers.map((p) => [p.region, p.pendingEvents, p.lagSeconds, p.lastError]),
      [['eu', 0, 0, undefined]],
    );
  });

  it('repairs by anti-entropy what a region missed (pushes and a tag delete) while its events were purged from the stream', async () => {
    const eu = region('eu');
    const us = region('us');
    const old = applied(us.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.tag === 'old');
    await pushImage(eu.node.url, 'team/purged', 'old', randomBytes(4096));
    await old;
    await us.replicator?.stop();
    const img = await pushImage(eu.node.url, 'team/purged', 'v1', randomBytes(4096));
    await pushImage(eu.node.url, 'team/purged', 'v2', randomBytes(4096));
    assert.equal((await fetch(`${eu.node.url}/v2/team/purged/manifests/old`, { method: 'DELETE' })).status, 202);
    const policy = await putPolicy(eu.node.url, { keys: [], policies: [{ repositories: ['missed/**'], mode: 'off' }] });
    const token = await eu.node.registry.identities.addToken('missed-token', [{ repositories: ['team/**'], actions: ['pull'] }], 0);
    await eu.node.publisher?.drained();
    const nc = await connect({ servers: nats.url });
    try {
      await (await nc.jetstreamManager()).streams.purge(eventStream('eu'));
    } finally {
      await nc.close();
    }

    const peers = [{ region: 'eu', address: `127.0.0.1:${eu.server.port}` }];
    const restarted = new Replicator({
      region: 'us',
      natsUrl: nats.url,
      peers,
      store: new LocalRegionStore(us.node.registry, us.node.clock),
      log: silentLogger,
      antiEntropyMs: 0,
    });
    const repaired = new Promise<number>((resolve) => restarted.once('repaired', (_peer: string, n: number) => resolve(n)));
    await restarted.start();
    us.replicator = restarted;
    us.node.status.replication = restarted;
    assert.ok((await repaired) >= 7, 'the policy, a token, two manifests, two tags and a tag delete were repaired');
    assert.equal(await policyVersion(us.node.url), policy, 'the missed policy change is repaired');
    assert.equal(
      (await us.node.registry.identities.login('missed-token', token.secret))?.name,
      'missed-token',
      'the missed token is repaired',
    );
    assert.equal((await get(us.node.url, '/v2/team/purged/manifests/old')).status, 404, 'the missed delete is repaired');
    const m = await get(us.node.url, '/v2/team/purged/manifests/v1');
    assert.equal(m.status, 200);
    assert.deepEqual(m.body, img.manifest);
    assert.equal((await get(us.node.url, '/v2/team/purged/manifests/v2')).status, 200);
    const status = (await (await fetch(`${us.node.url}/georeg/v1/replication`)).json()) as {
      peers: { repairs: number; lastAntiEntropy?: string }[];
    };
    assert.ok((status.peers[0]?.repairs ?? 0) >= 4);
    assert.ok(Date.now() - Date.parse(status.peers[0]?.lastAntiEntropy ?? '') < 60_000, 'the status says when the pass completed');
    const at = metric(await scrape(us.node.url), 'georeg_replication_anti_entropy_timestamp_seconds{source="eu",target="us"}');
    assert.ok(Math.abs(Date.now() / 1000 - at) < 60, 'and so does the metric');
  });

  it('replicates a trust policy change, and the newer of two concurrent changes wins in both regions', async () => {
    const eu = region('eu');
    const us = region('us');
    const arrived = applied(us.replicator as Replicator, (e) => e.action === Action.POLICY_PUT);
    const version = await putPolicy(eu.node.url, { keys: [], policies: [{ repositories: ['a/**'], mode: 'off' }] });
    await arrived;
    assert.equal(await policyVersion(us.node.url), version);
    const inUs = applied(us.replicator as Replicator, (e) => e.action === Action.POLICY_PUT);
    const inEu = applied(eu.replicator as Replicator, (e) => e.action === Action.POLICY_PUT);
    const [a, b] = await Promise.all([
      putPolicy(eu.node.url, { keys: [], policies: [{ repositories: ['from-eu/**'], mode: 'off' }] }),
      putPolicy(us.node.url, { keys: [], policies: [{ repositories: ['from-us/**'], mode: 'off' }] }),
    ]);
    await Promise.all([inUs, inEu]);
    const winner = [a, b].sort((x, y) => compareVersion(x, y))[1];
    assert.equal(await policyVersion(eu.node.url), winner);
    assert.equal(await policyVersion(us.node.url), winner);
  });

  it('replicates users and tokens, and their deletes, so credentials work in every region', async () => {
    const eu = region('eu');
    const us = region('us');
    const added = applied(us.replicator as Replicator, (e) => e.action === Action.IDENTITY_PUT && e.identityKey === 'auth/user/dev');
    await eu.node.registry.identities.addUser('dev', 'a long enough password', false);
    await added;
    assert.equal((await us.node.registry.identities.login('dev', 'a long enough password'))?.name, 'dev');
    const removed = applied(us.replicator as Replicator, (e) => e.action === Action.IDENTITY_PUT && e.identityKey === 'auth/user/dev');
    await eu.node.registry.identities.remove('user', 'dev');
    await removed;
    assert.equal(await us.node.registry.identities.login('dev', 'a long enough password'), undefined);
    assert.deepEqual(
      (await us.node.registry.identities.listUsers()).map((u) => u.name),
      [],
    );
    // A replayed older record does not bring the user back.
    const old = { wallMs: 1, logical: 0, region: 'eu' };
    assert.equal(
      await us.node.registry.identities.applyReplicated(
        'auth/user/dev',
        JSON.stringify({ name: 'dev', password: 'x', admin: true, disabled: false, created: 0 }),
        old,
      ),
      false,
    );
    assert.equal(
      await us.node.registry.identities.applyReplicated('auth/user/../x', '{"name":"x"}', { ...old, wallMs: Date.now() + 1000 }),
      false,
      'a malformed key is dropped',
    );
  });

  it('catches up after NATS itself was down while pushes went on', async () => {
    const eu = region('eu');
    const us = region('us');
    await nats.stop();
    const img = await pushImage(eu.node.url, 'team/natsdown', 'v1', randomBytes(8192));
    assert.ok(eu.node.stores.meta.outboxDepth() >= 2, 'the events wait in the outbox');
    const done = applied(us.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.repository === 'team/natsdown');
    await nats.start();
    await done;
    assert.deepEqual((await get(us.node.url, '/v2/team/natsdown/manifests/v1')).body, img.manifest);
  });

  it('resolves the same tag pushed with different digests in two regions to one winner everywhere', async () => {
    const eu = region('eu');
    const us = region('us');
    const both = Promise.all([
      applied(eu.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.tag === 'race'),
      applied(us.replicator as Replicator, (e) => e.action === Action.TAG_PUT && e.tag === 'race'),
    ]);
    const [a, b] = await Promise.all([
      pushImage(eu.node.url, 'team/race', 'race', randomBytes(1000)),
      pushImage(us.node.url, 'team/race', 'race', randomBytes(1000)),
    ]);
    await both;
    const [inEu, inUs] = await Promise.all([
      get(eu.node.url, '/v2/team/race/manifests/race'),
      get(us.node.url, '/v2/team/race/manifests/race'),
    ]);
    assert.equal(inEu.status, 200);
    assert.deepEqual(inEu.body, inUs.body, 'both regions serve the same manifest for the tag');
    assert.ok([a.digest, b.digest].includes(sha256(inEu.body)));
  });

  it("applies different repositories in parallel, while one repository's events keep their order", async () => {
    const eu = region('eu');
    const us = region('us');
    await us.replicator?.stop();
    // Queued while us is away: a slow copy first, then a small image, then a push and delete.
    await pushImage(eu.node.url, 'team/slow', 'v1', randomBytes(48 * 1024 * 1024));
    await pushImage(eu.node.url, 'team/quick', 'v1', randomBytes(1024));
    const gone = await pushImage(eu.node.url, 'team/ordered', 'v1', randomBytes(1024));
    assert.equal((await fetch(`${eu.node.url}/v2/team/ordered/manifests/${gone.digest}`, { method: 'DELETE' })).status, 202);
    const last = await pushImage(eu.node.url, 'team/ordered', 'v2', randomBytes(1024));
    await eu.node.publisher?.drained();

    const peers = [{ region: 'eu', address: `127.0.0.1:${eu.server.port}` }];
    const restarted = new Replicator({
      region: 'us',
      natsUrl: nats.url,
      peers,
      store: new LocalRegionStore(us.node.registry, us.node.clock),
      log: silentLogger,
      antiEntropyMs: 0,
      concurrency: { perPeer: 4, total: 4 },
    });
    const order: string[] = [];
    restarted.on('applied', (e: Event) => order.push(`${e.repository}:${Action[e.action]}`));
    restarted.on('skipped', (e: Event) => order.push(`${e.repository}:${Action[e.action]} skipped`));
    const slow = applied(restarted, (e) => e.action === Action.TAG_PUT && e.repository === 'team/slow');
    const ordered = applied(restarted, (e) => e.action === Action.TAG_PUT && e.tag === 'v2' && e.repository === 'team/ordered');
    await restarted.start();
    us.replicator = restarted;
    us.node.status.replication = restarted;
    await Promise.all([slow, ordered]);
    assert.ok(
      order.indexOf('team/quick:TAG_PUT') < order.indexOf('team/slow:MANIFEST_PUT'),
      `the small image did not wait behind the big one: ${order.join(', ')}`,
    );
    const inOrdered = order.filter((x) => x.startsWith('team/ordered:'));
    // The first push's manifest is gone at the source: its events are skipped, not retried for ever.
    assert.deepEqual(inOrdered, [
      'team/ordered:MANIFEST_PUT skipped',
      'team/ordered:TAG_PUT skipped',
      'team/ordered:MANIFEST_DELETE',
      'team/ordered:MANIFEST_PUT',
      'team/ordered:TAG_PUT',
    ]);
    assert.equal(
      (await get(us.node.url, `/v2/team/ordered/manifests/${gone.digest}`)).status,
      404,
      'the delete was not overtaken by its put',
    );
    assert.equal((await get(us.node.url, '/v2/team/ordered/manifests/v1')).status, 404);
    assert.deepEqual((await get(us.node.url, '/v2/team/ordered/manifests/v2')).body, last.manifest);
  });
});
