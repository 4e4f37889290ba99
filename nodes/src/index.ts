/** The public surface of nodes/: what the CLI, replication and e2e may use. */
export type * from './storage/driver.js';
export type * from './meta/store.js';
export { FANOUT, HASH_BYTES, TREE_RECORD_STORES, type DigestTreeReader, type TreeRecordStore } from './meta/digest-tree.js';
export * from './config.js';
export * from './log.js';
export { startNode, openRegistry, gcOptions, type RunningNode } from './main.js';
export { collectGarbage, type GcReport, type GcOptions, type Broken } from './registry/gc.js';
export { Registry, type RegistryStores } from './registry/registry.js';
export type { LocalLocation } from './registry/locate.js';
export type { TagState, RepositoryPage } from './registry/replication.js';
export type { AppliedPositions } from './registry/positions.js';
export { HybridClock, compareHlc, type HlcTimestamp } from './hlc.js';
export { changeOrder, type ChangeOrder } from './events/change-order.js';
export { eventStream, eventSubject, ensureStream, REPOSITORY_SEQ_HEADER, type StreamLimits } from './events/event-stream.js';
export type { EventStreamState } from './events/stream-state.js';
export { natsAuth } from './events/nats-auth.js';
export {
  toState,
  type FetchOutcome,
  type ReplicationStatusSource,
  type NodeStatusSnapshot,
  type NodeStatus,
  type RegionLocation,
  type RegionView,
  type BlobStream,
} from './status.js';
export type { ClientRoute } from './http/blob-redirect.js';
export { readPolicyFile, PolicyFileError } from './trust/policy-file.js';
export type { UserView } from './auth/identities.js';
export { ATTRIBUTES, type Attribute, type Attributes } from './registry/locks.js';
export type { RepositoryView, TagView, ManifestView } from './registry/properties.js';
