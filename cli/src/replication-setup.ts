import { join } from 'node:path';
import { natsAuth, parsePeers, type Config, type Logger } from 'georeg/nodes';
import { Replicator, replicationCredentials, type RegionStore } from 'georeg/replication';

/** Where a node with replication.external serves its region store to `georeg replicate`. */
export const regionStoreSocket = (config: Config): string => join(config.data, 'replication', 'store.sock');

/** The replicator a config asks for (its peers, NATS, mutual TLS, concurrency), writing into `store`. */
export function replicatorFor(config: Config, store: RegionStore, log: Logger): Replicator {
  return new Replicator({
    region: config.region,
    natsUrl: config.nats.url,
    peers: parsePeers(config.replication.peers),
    store,
    log,
    antiEntropyMs: config.replication.antiEntropySeconds * 1000,
    failoverMs: config.replication.failoverSeconds * 1000,
    natsAuth: natsAuth(config),
    channel: replicationCredentials(config).client,
    concurrency: { perPeer: config.replication.concurrencyPerPeer, total: config.replication.concurrency },
  });
}
