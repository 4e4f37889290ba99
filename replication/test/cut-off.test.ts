import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Action, type Event } from 'georeg/proto';
import { closedPort } from 'georeg/test-support';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { Replicator } from '../src/replicator.js';
import { PeerClient } from '../src/peer-client.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, pushImage, type Node } from './support.js';

interface Status {
  peers: { region: string; up: boolean }[];
}

/** The next `n` probes `r` makes of `peer`. */
function probes(r: Replicator, peer: string, n: number): Promise<boolean[]> {
  const seen: boolean[] = [];
  return new Promise((resolve) => {
    const on = (region: string, up: boolean): void => {
      if (region !== peer) return;
      seen.push(up);
      if (seen.length < n) return;
      r.off('probed', on);
      resolve(seen);
    };
    r.on('probed', on);
  });
}

describe('replication while a peer is cut off', function () {
  this.timeout(30_000);
  let nats: TestNats;
  const nodes: Node[] = [];
  const servers: RunningReplicationServer[] = [];
  const replicators: Replicator[] = [];

  before(async () => {
    nats = await TestNats.start();
    for (const region of ['eu', 'us']) {
      const n = await node({ region, nats: { url: nats.url } });
      nodes.push(n);
      servers.push(
        await startReplicationServer(
          n.registry,
          { host: '127.0.0.1', port: 0 },
          { region, log: silentLogger, status: () => n.status.snapshot() },
        ),
      );
    }
    const ap = `127.0.0.1:${await closedPort()}`;
    const [eu, us] = nodes;
    const peersOf = [
      [
        { region: 'us', address: `127.0.0.1:${servers[1].port}` },
        { region: 'ap', address: ap },
      ],
      [{ region: 'eu', address: `127.0.0.1:${servers[0].port}` }],
    ];
    for (const [i, n] of [eu, us].entries()) {
      const region = i === 0 ? 'eu' : 'us';
      const r = new Replicator({
        region,
        natsUrl: nats.url,
        peers: peersOf[i],
        store: new LocalRegionStore(n.registry, n.clock),
        log: silentLogger,
        failoverMs: 2000,
      });
      replicators.push(r);
      n.status.replication = r;
    }
    const firstProbes = Promise.all([probes(replicators[0], 'us', 1), probes(replicators[1], 'eu', 1)]);
    await Promise.all(replicators.map((r) => r.start()));
    assert.deepEqual(await firstProbes, [[true], [true]]);
  });
  after(async () => {
    nats?.thaw();
    for (const r of replicators) await r.stop();
    for (const s of servers) await s.close();
    for (const n of nodes) await n.close();
    await nats?.destroy();
  });

  it('applies the events that waited on a peer as soon as it answers again, however long their backoff had grown', async () => {
    const eu = replicators[0];
    const port = servers[1].port;
    await servers[1].close();
    const failures = new Promise<void>((resolve) => {
      let n = 0;
      const on = (e: Event): void => {
        if (e.repository !== 'cut/late' || ++n < 6) return;
        eu.off('failed', on);
        resolve();
      };
      eu.on('failed', on);
    });
    await pushImage(nodes[1].url, 'cut/late', 'v1', randomBytes(256));
    await failures; // the next retry waits 6.4 to 12.8 s
    const done = new Promise<void>((resolve) => {
      const on = (e: Event): void => {
        if (e.action !== Action.TAG_PUT || e.repository !== 'cut/late') return;
        eu.off('applied', on);
        resolve();
      };
      eu.on('applied', on);
    });
    const back = Date.now();
    servers[1] = await startReplicationServer(
      nodes[1].registry,
      { host: '127.0.0.1', port },
      { region: 'us', log: silentLogger, status: () => nodes[1].status.snapshot() },
    );
    await done;
    const after = Date.now() - back;
    assert.ok(after < 2000, `applied ${after} ms after the peer was back`);
  });

  it('answers at once from what the node knows, and calls down only the peer that is', async () => {
    nats.freeze();
    try {
      const started = Date.now();
      const res = await fetch(`${nodes[0].url}/georeg/v1/replication`);
      const elapsed = Date.now() - started;
      assert.equal(res.status, 200);
      const status = (await res.json()) as Status;
      assert.ok(elapsed < 1000, `the status took ${elapsed} ms`);
      assert.deepEqual(
        status.peers.map((p) => [p.region, p.up]),
        [
          ['us', true],
          ['ap', false],
        ],
      );
      // us probes eu through eu's status: while eu's JetStream is silent, eu still answers.
      assert.deepEqual(await probes(replicators[1], 'eu', 2), [true, true]);
    } finally {
      nats.thaw();
    }
  });
});

describe('replication: a peer client whose connection hangs', () => {
  it('gives up a connection attempt that hangs (a partition drops its packets) and reaches the peer anew once it answers', async function () {
    this.timeout(20_000);
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket)); // takes the TCP connection, never speaks HTTP/2
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const port = (hung.address() as AddressInfo).port;
    const peer = new PeerClient('us', `127.0.0.1:${port}`);
    const n = await node({ region: 'us' });
    let server: RunningReplicationServer | undefined;
    try {
      assert.equal(await peer.ping(500), false);
      // The network heals: the peer listens again, while the first connection stays hung.
      hung.close(); // stops listening at once; its callback would wait for the hung connection
      server = await startReplicationServer(n.registry, { host: '127.0.0.1', port }, { region: 'us', log: silentLogger });
      const began = Date.now();
      while (!(await peer.ping(500))) assert.ok(Date.now() - began < 5000, 'the peer is reached again within 5 s');
    } finally {
      peer.close();
      sockets.forEach((socket) => socket.destroy());
      await server?.close();
      await n.close();
    }
  });
});
