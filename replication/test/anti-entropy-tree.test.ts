import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HybridClock, silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { apiPaths } from 'georeg/oci';
import { http } from 'georeg/test-support';
import { antiEntropy } from '../src/anti-entropy.js';
import { Copier } from '../src/copier.js';
import { PeerClient } from '../src/peer-client.js';
import { LocalRegionStore } from '../src/region-store.js';
import { ReplicationDefinition } from '../src/blob-chunks.js';
import { RegionStoreDefinition } from '../src/ingest-parts.js';
import { regionStoreImplementation } from '../src/store-server.js';
import { RemoteRegionStore } from '../src/remote-store.js';
import { replicationImplementation, startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { node, pushImage, type Node } from './support.js';

const REPOSITORIES = 120;

/** A peer client that counts the calls anti-entropy makes. */
class CountingPeer extends PeerClient {
  calls: Record<string, number> = {};
  count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  override treeNodes(paths: string[]) {
    this.count('treeNodes');
    return super.treeNodes(paths);
  }
  override treeLeaves(paths: string[]) {
    this.count('treeLeaves');
    return super.treeLeaves(paths);
  }
  override listRepository(repository: string, after: string, limit: number) {
    this.count('listRepository');
    return super.listRepository(repository, after, limit);
  }
  override listRepositories(after: string, limit: number) {
    this.count('listRepositories');
    return super.listRepositories(after, limit);
  }
  override listLocks() {
    this.count('listLocks');
    return super.listLocks();
  }
}

describe('anti-entropy over digest trees (real gRPC, two nodes)', function () {
  this.timeout(120_000);
  let nats: TestNats;
  let eu: Node;
  let us: Node;
  let server: RunningReplicationServer;
  let peer: CountingPeer;
  let copier: Copier;
  let store: LocalRegionStore;
  const pass = async () => {
    peer.calls = {};
    return antiEntropy(store, copier, peer);
  };
  const level1 = (n: Node) => n.registry.replication.digestTree().children('');

  before(async () => {
    // Events on: every change is stamped with its region's clock, as in a cluster.
    nats = await TestNats.start();
    eu = await node({ region: 'eu', nats: { url: nats.url } });
    us = await node({ region: 'us', nats: { url: nats.url } });
    server = await startReplicationServer(eu.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    peer = new CountingPeer('eu', `127.0.0.1:${server.port}`);
    store = new LocalRegionStore(us.registry, new HybridClock('us'));
    copier = new Copier(store);
    for (let i = 0; i < REPOSITORIES; i++) await pushImage(eu.url, `team/app-${i}`, 'v1', Buffer.from('shared layer'));
  });
  after(async () => {
    peer?.close();
    await server?.close();
    await eu?.close();
    await us?.close();
    await nats?.destroy();
  });

  it('copies every repository a new region lacks, then finds nothing different with one call', async () => {
    const first = await pass();
    assert.equal(first.tree, true);
    assert.equal(first.compared, REPOSITORIES);
    assert.equal(first.failed.length, 0);
    assert.ok(first.repairs >= REPOSITORIES * 2, `manifests and tags repaired (${first.repairs})`);
    assert.deepEqual(await level1(us), await level1(eu), 'equal content, equal trees');

    const noop = await pass();
    assert.deepEqual([noop.compared, noop.repairs], [0, 0]);
    assert.deepEqual(peer.calls, { treeNodes: 1 }, 'a pass that finds nothing different is one call');
  });

  it('lists only the repositories that differ: a moved tag, a deleted tag, a new repository', async () => {
    const moved = await pushImage(eu.url, 'team/app-3', 'v2', Buffer.from('another layer'));
    await http('PUT', `${eu.url}${apiPaths.manifest('team/app-3', 'v1')}`, {
      body: moved.manifest,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal((await http('DELETE', `${eu.url}${apiPaths.manifest('team/app-7', 'v1')}`)).status, 202);
    await pushImage(eu.url, 'brand/new', 'v1', Buffer.from('shared layer'));

    const repair = await pass();
    assert.equal(repair.compared, 3, 'team/app-3, team/app-7, brand/new');
    assert.equal(peer.calls.listRepository, 3);
    assert.equal(peer.calls.listRepositories, undefined, 'never a listing of every repository');
    assert.equal((await us.registry.manifests.get('team/app-3', { tag: 'v1', digest: undefined })).record.digest, moved.digest);
    assert.equal(await us.registry.replication.tag('team/app-7', 'v1').then((t) => t.digest), undefined);
    assert.deepEqual(await level1(us), await level1(eu));
    assert.equal((await pass()).compared, 0);
  });

  it('compares the record stores by their hashes: a lock changed in the peer is listed and applied, nothing else', async () => {
    await eu.registry.locks.update({ repository: 'team/app-1' }, { deleteEnabled: false });
    const repair = await pass();
    assert.deepEqual([repair.repairs, repair.compared], [1, 0]);
    assert.deepEqual(peer.calls, { treeNodes: 1, listLocks: 1 });
    assert.equal((await us.registry.locks.attributes({ repository: 'team/app-1' })).deleteEnabled, false);
    assert.deepEqual(await pass().then(() => peer.calls), { treeNodes: 1 });
  });

  it('compares every repository with a peer of the release before digest trees (it answers UNIMPLEMENTED)', async () => {
    const {
      getTreeNodes: _n,
      getTreeLeaves: _l,
      getPosition: _g,
      advancePosition: _a,
      ...previous
    } = replicationImplementation(eu.registry, { region: 'eu', log: silentLogger });
    const old = new Server();
    old.addService(ReplicationDefinition, previous);
    const port = await new Promise<number>((resolve, reject) =>
      old.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const oldPeer = new PeerClient('eu', `127.0.0.1:${port}`);
    try {
      await pushImage(eu.url, 'team/app-5', 'v3', Buffer.from('a third layer'));
      const full = await antiEntropy(store, copier, oldPeer);
      assert.equal(full.tree, false);
      assert.equal(full.compared, REPOSITORIES + 1, 'every repository the peer lists');
      assert.equal(full.failed.length, 0);
      assert.ok(await us.registry.replication.tag('team/app-5', 'v3').then((t) => t.digest));
      assert.deepEqual(await level1(us), await level1(eu));
    } finally {
      oldPeer.close();
      await new Promise<void>((resolve) => old.tryShutdown(() => resolve()));
    }
  });
});

describe('a replicate process of this release beside a node of the previous one (no digest tree, no positions on its region store socket)', () => {
  it('reads no tree from it (UNIMPLEMENTED), so its passes compare every repository, and no positions (its lanes keep the order)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-old-store-'));
    const n = await node({ region: 'us' });
    const {
      getTreeNodes: _n,
      getTreeLeaves: _l,
      getPosition: _g,
      advancePosition: _a,
      ...previous
    } = regionStoreImplementation(new LocalRegionStore(n.registry, new HybridClock('us')), silentLogger, () => undefined);
    const old = new Server();
    old.addService(RegionStoreDefinition, previous);
    const socket = join(dir, 'store.sock');
    await new Promise<number>((resolve, reject) =>
      old.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const remote = new RemoteRegionStore(socket);
    try {
      assert.equal(await remote.treeNodes(['']), undefined);
      assert.equal(await remote.positions.get('eu', 'team/app'), null);
    } finally {
      remote.close();
      await new Promise<void>((resolve) => old.tryShutdown(() => resolve()));
      await n.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
