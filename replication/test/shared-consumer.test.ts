import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'nats';
import { eventStream, silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { createTestDatabase, http, type TestDatabase } from 'georeg/test-support';
import { apiPaths, type Digest, type ParsedManifest } from 'georeg/oci';
import { Action, Event } from 'georeg/proto';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { repositorySeq } from '../src/repository-order.js';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { node, pushImage, type Node } from './support.js';

const IMAGES = 12;

/** A node's region store that takes longer over each manifest: what lets the other node overtake it. */
class SlowStore extends LocalRegionStore {
  override async putManifest(repo: string, digest: Digest, body: Buffer, mediaType: string, parsed?: ParsedManifest): Promise<void> {
    await delay(40);
    return super.putManifest(repo, digest, body, mediaType, parsed);
  }
}

/** Every event in `region`'s stream by id, with its place among its repository's events. */
async function placesOf(natsUrl: string, region: string): Promise<Map<string, number | undefined>> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(eventStream(region));
    const places = new Map<string, number | undefined>();
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(eventStream(region), { seq });
      places.set(Event.decode(m.data).id, repositorySeq(m.header));
    }
    return places;
  } finally {
    await nc.close();
  }
}

describe('two nodes of one region (one PostgreSQL database, one blob directory) replicate through one shared durable consumer', function () {
  this.timeout(120_000);
  let nats: TestNats;
  let db: TestDatabase;
  let shared: string;
  let eu: Node;
  let us: Node[];
  let server: RunningReplicationServer;
  const replicators: Replicator[] = [];
  /** Every event applied in region us, in the order applied, and by which node. */
  const applied: { by: number; event: Event }[] = [];
  /** Resolves once `n` events are applied in all. */
  const appliedCount = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (applied.length < n) return;
        for (const r of replicators) r.off('applied', check);
        resolve();
      };
      for (const r of replicators) r.on('applied', check);
      check();
    });

  /** A replicator on each node of us; node 0's the slower one, so that node 1 could overtake it within a repository. */
  async function startReplicators(): Promise<void> {
    for (const [i, n] of us.entries()) {
      const r = new Replicator({
        region: 'us',
        natsUrl: nats.url,
        peers: [{ region: 'eu', address: `127.0.0.1:${server.port}` }],
        store: new (i === 0 ? SlowStore : LocalRegionStore)(n.registry, n.clock),
        log: silentLogger,
        antiEntropyMs: 0,
      });
      r.on('applied', (event: Event) => applied.push({ by: i, event }));
      replicators.push(r);
      await r.start();
    }
  }

  before(async () => {
    nats = await TestNats.start();
    db = await createTestDatabase();
    shared = await mkdtemp(join(tmpdir(), 'georeg-shared-us-'));
    eu = await node({ region: 'eu', nats: { url: nats.url } });
    const meta = { driver: 'postgres' as const, postgres: { url: db.url, urlFile: '', poolSize: 4 } };
    us = [await node({ region: 'us', meta, data: shared }), await node({ region: 'us', meta, data: shared })];
    server = await startReplicationServer(eu.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    await startReplicators();
  });
  after(async () => {
    for (const r of replicators) await r.stop();
    await server?.close();
    for (const n of [eu, ...(us ?? [])]) await n?.close();
    await nats?.destroy();
    await db?.drop();
    if (shared) await rm(shared, { recursive: true, force: true });
  });

  it("applies each of the peer region's events on one node or the other, and the region holds every image", async () => {
    // Each image is a MANIFEST_PUT and a TAG_PUT, whichever node applies them.
    const pushed = [];
    for (let i = 0; i < IMAGES; i++) pushed.push(await pushImage(eu.url, `team/app-${i}`, 'v1', Buffer.from(`layer ${i}`)));
    await eu.publisher?.drained();

    await appliedCount(IMAGES * 2);
    const ids = applied.map((a) => a.event.id);
    assert.equal(new Set(ids).size, ids.length, 'no event applied twice');
    for (const n of us) {
      for (const [i, p] of pushed.entries()) {
        const res = await http('GET', `${n.url}${apiPaths.manifest(`team/app-${i}`, 'v1')}`, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        assert.equal(res.status, 200, `team/app-${i} on node ${us.indexOf(n)}`);
        assert.deepEqual(res.body, p.manifest);
      }
    }
    console.log(
      `      events applied by node 0: ${applied.filter((a) => a.by === 0).length}, by node 1: ${applied.filter((a) => a.by === 1).length}`,
    );
  });

  it("applies each repository's events in the order of its origin, whichever node takes each", async () => {
    const before = applied.length;
    const repos = ['order/a', 'order/b', 'order/c'];
    const pushes = 8;
    // Interleaved: a repository's events follow each other closely in the stream, and reach both nodes.
    const latest = new Map<string, Buffer>();
    for (let i = 0; i < pushes; i++) {
      for (const repo of repos) latest.set(repo, (await pushImage(eu.url, repo, 'latest', Buffer.from(`${repo} ${i}`))).manifest);
    }
    await eu.publisher?.drained();
    await appliedCount(before + repos.length * pushes * 2);

    const places = await placesOf(nats.url, 'eu');
    const mine = applied.slice(before);
    for (const repo of repos) {
      const order = mine.filter((a) => a.event.repository === repo).map((a) => places.get(a.event.id));
      assert.deepEqual(
        order,
        Array.from({ length: pushes * 2 }, (_, i) => i + 1),
        `${repo}'s events applied in their order (by nodes ${mine
          .filter((a) => a.event.repository === repo)
          .map((a) => a.by)
          .join('')})`,
      );
      assert.ok(
        new Set(mine.filter((a) => a.event.repository === repo).map((a) => a.by)).size === 2,
        `both nodes applied events of ${repo}`,
      );
      const res = await http('GET', `${us[1]?.url}${apiPaths.manifest(repo, 'latest')}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.deepEqual(res.body, latest.get(repo), `${repo}:latest is the last pushed`);
    }
  });

  it("applies a repository's event at once when its predecessors are gone from the stream (never to come)", async () => {
    await pushImage(eu.url, 'order/gap', 'v1', Buffer.from('gap 1'));
    await eu.publisher?.drained();
    await appliedCount(applied.length + 2);
    for (const r of replicators.splice(0)) await r.stop();
    await pushImage(eu.url, 'order/gap', 'v2', Buffer.from('gap 2')); // events 3 and 4 of order/gap: purged unseen
    await eu.publisher?.drained();
    const nc = await connect({ servers: nats.url });
    try {
      await (await nc.jetstreamManager()).streams.purge(eventStream('eu'));
    } finally {
      await nc.close();
    }
    const last = await pushImage(eu.url, 'order/gap', 'v3', Buffer.from('gap 3')); // events 5 and 6
    await eu.publisher?.drained();
    const before = applied.length;
    const deferred: Event[] = [];
    await startReplicators();
    for (const r of replicators) r.on('deferred', (e: Event) => deferred.push(e));
    await appliedCount(before + 2);
    assert.deepEqual(
      applied.slice(before).map((a) => a.event.tag || a.event.action),
      [Action.MANIFEST_PUT, 'v3'],
      'the manifest, then its tag',
    );
    assert.ok(deferred.length <= 2, `event 5 waits at most for a fresh acknowledgement floor (deferred ${deferred.length} times)`);
    const res = await http('GET', `${us[0]?.url}${apiPaths.manifest('order/gap', 'v3')}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.deepEqual(res.body, last.manifest);
  });
});
