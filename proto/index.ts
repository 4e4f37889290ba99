/** The wire types shared by nodes/ and replication/, generated from georeg/v1/*.proto. */
export { Action, Event, Hlc } from './gen/georeg/v1/events.js';
export {
  BlobChunk,
  BlobStat,
  StatBlobRequest,
  GetManifestRequest,
  ListRepositoryRequest,
  ListRepositoriesRequest,
  RepositoryNames,
  LocateRequest,
  Location,
  Manifest,
  PolicyState,
  IdentityList,
  IdentityRecord,
  ReadBlobRequest,
  RepositoryPage,
  ReplicationClient,
  ReplicationService,
  StatusReply,
  StatusRequest,
  TagState,
  type ReplicationServer,
} from './gen/georeg/v1/replication.js';
export { PeerStatus } from './gen/georeg/v1/status.js';
export {
  IngestPart,
  IngestStep,
  ManifestWrite,
  RegionStoreClient,
  RegionStoreService,
  StatusReport,
  StoreRef,
  StoreReply,
  TagChange,
  TagRef,
  type RegionStoreServer,
} from './gen/georeg/v1/store.js';
