import { join } from 'node:path';
import { silentLogger } from 'georeg/nodes';
import { LocalRegionStore } from '../src/region-store.js';
import { RemoteRegionStore } from '../src/remote-store.js';
import { startRegionStoreServer } from '../src/store-server.js';
import { regionStoreSuite } from './region-store-suite.js';
import { node } from './support.js';

regionStoreSuite('in the node process (LocalRegionStore)', async () => {
  const n = await node({ region: 'us' });
  return { store: new LocalRegionStore(n.registry, n.clock), node: n, close: () => n.close() };
});

regionStoreSuite('over gRPC on the node socket (RemoteRegionStore)', async () => {
  const n = await node({ region: 'us' });
  const server = await startRegionStoreServer(new LocalRegionStore(n.registry, n.clock), join(n.dir, 'replication', 'store.sock'), silentLogger, () => undefined);
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
