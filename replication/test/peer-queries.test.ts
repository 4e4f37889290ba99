import assert from 'node:assert/strict';
import { silentLogger } from 'georeg/nodes';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { PeerClient } from '../src/peer-client.js';
import { PeerQueries } from '../src/peer-queries.js';
import { node, pushBlob, type Node } from './support.js';

describe('PeerQueries.findBlob: the nearest region that holds a blob (real nodes, real gRPC)', function () {
  this.timeout(20_000);
  const regions: { node: Node; server: RunningReplicationServer; client: PeerClient }[] = [];
  const down = new Set<string>();
  const drained = new Set<string>();
  let queries: PeerQueries;
  let both: string;
  let apOnly: string;

  before(async () => {
    for (const region of ['eu', 'ap']) {
      const n = await node({ region });
      const server = await startReplicationServer(
        n.registry,
        { host: '127.0.0.1', port: 0 },
        { region, log: silentLogger, publicUrl: `http://${region}.example:5000` },
      );
      regions.push({ node: n, server, client: new PeerClient(region, `127.0.0.1:${server.port}`) });
    }
    const [eu, ap] = regions as [(typeof regions)[0], (typeof regions)[0]];
    both = await pushBlob(eu.node.url, 'team/app', 'held by both');
    await pushBlob(ap.node.url, 'team/app', 'held by both');
    apOnly = await pushBlob(ap.node.url, 'team/app', 'held by ap only');
    queries = new PeerQueries(
      regions.map((r) => r.client),
      (region) => ({
        up: !down.has(region),
        drained: drained.has(region),
        rttMs: regions.find((r) => r.client.region === region)?.client.rttMs,
      }),
    );
  });
  after(async () => {
    for (const r of regions) {
      r.client.close();
      await r.server.close();
      await r.node.close();
    }
  });

  const rtt = (eu: number | undefined, ap: number | undefined): void => {
    (regions[0] as { client: PeerClient }).client.rttMs = eu;
    (regions[1] as { client: PeerClient }).client.rttMs = ap;
  };

  it('a health probe measures the round trip, smoothed', async () => {
    const { client } = regions[0] as { client: PeerClient };
    const measured = (): number => client.rttMs ?? Number.NaN;
    client.rttMs = undefined;
    assert.equal(await client.ping(2000), true);
    assert.ok(measured() > 0 && measured() < 2000, `round trip ${measured()} ms`);
    client.rttMs = 1000;
    await client.ping(2000);
    assert.ok(measured() < 1000 && measured() > 850, `one probe moves the estimate an eighth of the way: ${measured()}`);
  });

  it('sends to the holder with the lowest round trip, whichever answers first', async () => {
    rtt(5, 80);
    assert.equal(await queries.findBlob('team/app', both), 'http://eu.example:5000');
    rtt(80, 5);
    assert.equal(await queries.findBlob('team/app', both), 'http://ap.example:5000');
  });

  it('prefers a measured region to one not measured yet', async () => {
    rtt(undefined, 300);
    assert.equal(await queries.findBlob('team/app', both), 'http://ap.example:5000');
  });

  it('sends to a farther region when only it holds the blob, and nowhere when none does', async () => {
    rtt(5, 80);
    assert.equal(await queries.findBlob('team/app', apOnly), 'http://ap.example:5000');
    assert.equal(await queries.findBlob('team/app', `sha256:${'0'.repeat(64)}`), undefined);
  });

  for (const [state, set] of [
    ['drained', drained],
    ['fails its health probe', down],
  ] as const) {
    it(`skips a region that ${state === 'drained' ? 'is drained' : state}`, async () => {
      rtt(5, 80);
      set.add('eu');
      try {
        assert.equal(await queries.findBlob('team/app', both), 'http://ap.example:5000');
      } finally {
        set.delete('eu');
      }
    });
  }
});
