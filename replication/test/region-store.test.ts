import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import type { IngestStep } from 'georeg/proto';
import { silentLogger } from 'georeg/nodes';
import type { Digest } from 'georeg/oci';
import { FastRegionStoreClient } from '../src/ingest-parts.js';
import { LocalRegionStore } from '../src/region-store.js';
import { RemoteRegionStore } from '../src/remote-store.js';
import { startRegionStoreServer } from '../src/store-server.js';
import { regionStoreSuite } from './support/region-store-suite.js';
import { createTestDatabase, type TestDatabase } from 'georeg/test-support';
import { node, type Node } from './support.js';

/** A node of region us on LevelDB, or on a PostgreSQL database as the nodes of a region share it. */
async function usNode(db: TestDatabase | undefined): Promise<Node> {
  if (!db) return node({ region: 'us' });
  return node({ region: 'us', meta: { driver: 'postgres', postgres: { url: await db.schema(), urlFile: '', poolSize: 4 } } });
}

let db: TestDatabase | undefined;
before(async () => (db = await createTestDatabase()));
after(() => db?.drop());

for (const shared of [false, true]) {
  const on = shared ? ', on a shared PostgreSQL store' : '';
  regionStoreSuite(`in the node process (LocalRegionStore)${on}`, async () => {
    const n = await usNode(shared ? db : undefined);
    return { store: new LocalRegionStore(n.registry, n.clock), node: n, close: () => n.close() };
  });

  regionStoreSuite(`over gRPC on the node socket (RemoteRegionStore)${on}`, async () => {
    const n = await usNode(shared ? db : undefined);
    const server = await startRegionStoreServer(
      new LocalRegionStore(n.registry, n.clock),
      join(n.dir, 'replication', 'store.sock'),
      silentLogger,
      () => undefined,
    );
    const store = new RemoteRegionStore(join(n.dir, 'replication', 'store.sock'));
    return {
      store,
      node: n,
      async close() {
        store.close();
        await server.close();
        await n.close();
      },
    };
  });
}

describe('region store service: a replicate process that misbehaves', () => {
  it('ignores bytes sent after an abort, keeping what came before, and goes on serving', async () => {
    const n = await node({ region: 'us' });
    const socket = join(n.dir, 'replication', 'store.sock');
    const server = await startRegionStoreServer(new LocalRegionStore(n.registry, n.clock), socket, silentLogger, () => undefined);
    const client = new FastRegionStoreClient(`unix:${socket}`, credentials.createInsecure());
    try {
      const blob = randomBytes(100_000);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const call = client.ingestBlob();
      const steps = (call as AsyncIterable<IngestStep>)[Symbol.asyncIterator]();
      const part = (data: Buffer, abort = false) => ({ repository: '', digest: '', data, abort });
      call.write({ ...part(Buffer.alloc(0)), repository: 'team/app', digest });
      assert.equal((await steps.next()).value?.offset, 0);
      call.write(part(blob.subarray(0, 40_000)));
      call.write(part(Buffer.alloc(0), true));
      call.write(part(blob.subarray(40_000))); // after its own abort: a bug in the replicator, not a reason to crash the node
      call.end();
      await assert.rejects(steps.next()); // the copy failed, as the abort asked
      // The node is up, and resumes the copy from what arrived before the abort.
      const store = new RemoteRegionStore(socket);
      try {
        let from = -1;
        assert.equal(
          await store.ingestBlob('team/app', digest as Digest, (offset) => ((from = offset), Readable.from([blob.subarray(offset)]))),
          true,
        );
        assert.equal(from, 40_000);
      } finally {
        store.close();
      }
    } finally {
      client.close();
      await server.close();
      await n.close();
    }
  });

  it('refuses a position of a malformed peer or repository name with INVALID_ARGUMENT, and goes on serving', async () => {
    const n = await usNode(db);
    const socket = join(n.dir, 'replication', 'store.sock');
    const server = await startRegionStoreServer(new LocalRegionStore(n.registry, n.clock), socket, silentLogger, () => undefined);
    const store = new RemoteRegionStore(socket);
    try {
      await assert.rejects(store.positions.get('EU!', 'team/app'), /not a region id/);
      await assert.rejects(store.positions.advance('eu', '../etc', 3), /invalid|NAME_INVALID/i);
      await store.positions.advance('eu', 'team/app', 3);
      assert.equal(await store.positions.get('eu', 'team/app'), 3);
    } finally {
      store.close();
      await server.close();
      await n.close();
    }
  });
});
