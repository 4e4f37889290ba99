import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { createTestDatabase, http, type TestDatabase } from 'georeg/test-support';
import { apiPaths } from 'georeg/oci';
import type { Event } from 'georeg/proto';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { node, pushImage, type Node } from './support.js';

const IMAGES = 12;

describe('two nodes of one region (one PostgreSQL database, one blob directory) replicate through one shared durable consumer', function () {
  this.timeout(120_000);
  let nats: TestNats;
  let db: TestDatabase;
  let shared: string;
  let eu: Node;
  let us: Node[];
  let server: RunningReplicationServer;
  const replicators: Replicator[] = [];

  before(async () => {
    nats = await TestNats.start();
    db = await createTestDatabase();
    shared = await mkdtemp(join(tmpdir(), 'georeg-shared-us-'));
    eu = await node({ region: 'eu', nats: { url: nats.url } });
    const meta = { driver: 'postgres' as const, postgres: { url: db.url, urlFile: '', poolSize: 4 } };
    us = [await node({ region: 'us', meta, data: shared }), await node({ region: 'us', meta, data: shared })];
    server = await startReplicationServer(eu.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
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
    const applied: { by: number; id: string }[] = [];
    // Each image is a MANIFEST_PUT and a TAG_PUT, whichever node applies them.
    let allApplied!: () => void;
    const done = new Promise<void>((resolve) => (allApplied = resolve));
    for (const [i, n] of us.entries()) {
      const r = new Replicator({
        region: 'us',
        natsUrl: nats.url,
        peers: [{ region: 'eu', address: `127.0.0.1:${server.port}` }],
        store: new LocalRegionStore(n.registry, n.clock),
        log: silentLogger,
        antiEntropyMs: 0,
      });
      r.on('applied', (e: Event) => {
        applied.push({ by: i, id: e.id });
        if (applied.length >= IMAGES * 2) allApplied();
      });
      replicators.push(r);
      await r.start();
    }
    const pushed = [];
    for (let i = 0; i < IMAGES; i++) pushed.push(await pushImage(eu.url, `team/app-${i}`, 'v1', Buffer.from(`layer ${i}`)));
    await eu.publisher?.drained();

    await done;
    const ids = applied.map((a) => a.id);
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
});
