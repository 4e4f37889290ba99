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
import { node } from './support.js';

regionStoreSuite('in the node process (LocalRegionStore)', async () => {
  const n = await node({ region: 'us' });
  return { store: new LocalRegionStore(n.registry, n.clock), node: n, close: () => n.close() };
});

regionStoreSuite('over gRPC on the node socket (RemoteRegionStore)', async () => {
  const n = await node({ region: 'us' });
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
});
