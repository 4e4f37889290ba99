/** The public surface of replication/: what the CLI wires into a node's process. */
export { startReplicationServer, type RunningReplicationServer, type ReplicationServerOptions } from './server.js';
export { Replicator, type ReplicatorOptions, type PeerState } from './replicator.js';
export { replicationCredentials, type ReplicationCredentials } from './tls.js';
export { LocalRegionStore, type RegionStore } from './region-store.js';
export { RemoteRegionStore } from './remote-store.js';
export { startRegionStoreServer, type RunningStoreServer, type ReportedStatus } from './store-server.js';
export { ReportedReplication } from './reported.js';
