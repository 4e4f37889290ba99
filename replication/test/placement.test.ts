import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { apiPaths } from 'georeg/oci';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { Replicator } from '../src/replicator.js';
import { LocalRegionStore } from '../src/region-store.js';
import { node, pushBlob, sha256, type Node } from './support.js';

/** A GET from the loopback address `from` (127.0.0.2 is placed in ap, the rest of 127/8 in us). */
function getFrom(from: string, url: string, method = 'GET'): Promise<{ status: number; location?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, localAddress: from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('client placement: a blob GET from a client placed in another region goes there when it holds the blob', function () {
  this.timeout(30_000);
  let nats: TestNats;
  let ap: Node;
  let us: Node;
  let apServer: RunningReplicationServer;
  let replicator: Replicator;
  let both: string;
  let usOnly: string;

  before(async () => {
    nats = await TestNats.start();
    ap = await node({ region: 'ap' });
    apServer = await startReplicationServer(
      ap.registry,
      { host: '127.0.0.1', port: 0 },
      { region: 'ap', log: silentLogger, publicUrl: ap.url, drained: () => ap.status.drain.drained },
    );
    const peers = `ap=127.0.0.1:${apServer.port}`;
    us = await node({
      region: 'us',
      nats: { url: nats.url },
      replication: { peers },
      network: { placement: '127.0.0.2/32=ap,127.0.0.0/8=us' },
    });
    replicator = new Replicator({
      region: 'us',
      natsUrl: nats.url,
      peers: [{ region: 'ap', address: `127.0.0.1:${apServer.port}` }],
      store: new LocalRegionStore(us.registry, us.clock),
      log: silentLogger,
      antiEntropyMs: 0,
      failoverMs: 200,
    });
    const up = once(replicator, 'probed');
    await replicator.start();
    us.status.replication = replicator;
    await up;
    both = await pushBlob(ap.url, 'team/app', 'in both regions');
    await pushBlob(us.url, 'team/app', 'in both regions');
    usOnly = await pushBlob(us.url, 'team/app', 'in us only');
  });
  after(async () => {
    await replicator?.stop();
    await apServer?.close();
    await us?.close();
    await ap?.close();
    await nats?.destroy();
  });

  it('serves a client placed here from here', async () => {
    const got = await getFrom('127.0.0.1', `${us.url}${apiPaths.blob('team/app', both)}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), both);
  });

  it('sends a client placed in ap to ap, whose URL serves the bytes', async () => {
    const got = await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', both)}`);
    assert.equal(got.status, 307);
    assert.equal(got.location, `${ap.url}${apiPaths.blobData('team/app', both)}`);
    const metrics = await (await fetch(`${us.url}${apiPaths.metrics()}`)).text();
    assert.match(metrics, /^georeg_routing_redirects_total\{reason="placement"\} [1-9]/m);
    const there = await getFrom('127.0.0.2', got.location as string);
    assert.equal(there.status, 200);
    assert.equal(sha256(there.body), both);
  });

  it('serves a client placed in ap here when ap lacks the blob, and answers a HEAD here', async () => {
    assert.equal((await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', usOnly)}`)).status, 200);
    assert.equal((await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', both)}`, 'HEAD')).status, 200);
  });

  it('serves a client placed in ap here while ap is drained, and sends it there again once undrained', async () => {
    const told = async (drained: boolean): Promise<void> => {
      while ((await replicator.peers())[0]?.drained !== drained) await once(replicator, 'probed');
    };
    await ap.status.drain.set(true, 'maintenance');
    await told(true);
    const got = await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', both)}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), both);
    await ap.status.drain.set(false);
    await told(false);
    // Another blob: where no region could take a blob, that answer is kept for 2 s.
    const again = await pushBlob(ap.url, 'team/app', 'after the drain');
    await pushBlob(us.url, 'team/app', 'after the drain');
    assert.equal((await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', again)}`)).status, 307);
  });

  it('serves a client placed in ap here while ap is down', async () => {
    await apServer.close();
    for (let up = true; up;) [, up] = (await once(replicator, 'probed')) as [string, boolean];
    const got = await getFrom('127.0.0.2', `${us.url}${apiPaths.blob('team/app', both)}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), both);
  });
});
