/** The wire types shared by nodes/ and replication/, generated from georeg/v1/*.proto. */
export { Action, Event, Hlc, Reference } from './gen/georeg/v1/events.js';
export {
  BlobChunk,
  GetManifestRequest,
  ListRepositoryRequest,
  ListRepositoriesRequest,
  RepositoryNames,
  LocateRequest,
  Location,
  Manifest,
  PeerStatus,
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
