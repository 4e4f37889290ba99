import { Readable } from 'node:stream';
import { Metadata, credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import {
  ReplicationClient,
  type BlobChunk,
  type GetManifestRequest,
  type ListRepositoriesRequest,
  type ListRepositoryRequest,
  type LocateRequest,
  type PolicyState,
  type IdentityList,
  type Location,
  type Manifest,
  type RepositoryNames,
  type RepositoryPage,
} from 'georeg/proto';

/** A peer region's Replication service, with the calls the copier needs as promises and streams. */
/** Unary calls give up after this long: a peer that hangs (not refuses) must not stall a loop or a shutdown. */
const UNARY_MS = 30_000;
const deadline = (): { deadline: number } => ({ deadline: Date.now() + UNARY_MS });

export class PeerClient {
  private readonly client: InstanceType<typeof ReplicationClient>;
  /** Bytes received of blobs still being copied. */
  bytesInFlight = 0;
  /** Blob bytes received from this peer, and blobs copied whole (counted by the copier). */
  bytesCopied = 0;
  blobsCopied = 0;
  /** Tag changes from this peer that lost to a newer one (counted by the copier). */
  conflicts = 0;

  constructor(
    readonly region: string,
    readonly address: string,
    /** Mutual TLS between regions, or plain text (the default). */
    channel: ChannelCredentials = credentials.createInsecure(),
  ) {
    this.client = new ReplicationClient(address, channel, {
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      // HTTP/2's default 64 KiB window allows one round trip per 64 KiB: far too little for blobs.
      'grpc-node.flow_control_window': 8 * 1024 * 1024,
    });
  }

  /** A manifest's bytes and media type, and with `withReferrers` the digests of its referrers. */
  getManifest(repository: string, digest: string, withReferrers = false): Promise<Manifest> {
    return new Promise((resolve, reject) =>
      this.client.getManifest({ repository, digest, withReferrers } satisfies GetManifestRequest, new Metadata(), deadline(), (err: ServiceError | null, res: Manifest) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  listRepositories(after: string, limit: number): Promise<RepositoryNames> {
    return new Promise((resolve, reject) =>
      this.client.listRepositories({ after, limit } satisfies ListRepositoriesRequest, new Metadata(), deadline(), (err: ServiceError | null, res: RepositoryNames) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  listRepository(repository: string, after: string, limit: number): Promise<RepositoryPage> {
    return new Promise((resolve, reject) =>
      this.client.listRepository({ repository, after, limit } satisfies ListRepositoryRequest, new Metadata(), deadline(), (err: ServiceError | null, res: RepositoryPage) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  /** Whether the peer answers its Status RPC within `ms`. */
  ping(ms: number): Promise<boolean> {
    return new Promise((resolve) =>
      this.client.status({}, new Metadata(), { deadline: Date.now() + ms }, (err: ServiceError | null) => resolve(err === null)),
    );
  }

  listIdentities(): Promise<IdentityList> {
    return new Promise((resolve, reject) => this.client.listIdentities({}, new Metadata(), deadline(), (err: ServiceError | null, res: IdentityList) => (err ? reject(err) : resolve(res))));
  }

  getPolicy(): Promise<PolicyState> {
    return new Promise((resolve, reject) => this.client.getPolicy({}, new Metadata(), deadline(), (err: ServiceError | null, res: PolicyState) => (err ? reject(err) : resolve(res))));
  }

  locate(repository: string, reference: string): Promise<Location> {
    return new Promise((resolve, reject) =>
      this.client.locate({ repository, reference } satisfies LocateRequest, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: Location) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  /** The blob's bytes from `offset` on, as a stream (back-pressure reaches the peer through gRPC flow control). */
  readBlob(repository: string, digest: string, offset: number): Readable {
    const call = this.client.readBlob({ repository, digest, offset });
    let expected = offset;
    let received = 0;
    const settle = (): void => {
      this.bytesInFlight -= received;
      received = 0;
    };
    const out = new Readable({
      read() {
        call.resume();
      },
      destroy(err, cb) {
        call.cancel();
        cb(err);
      },
    });
    call.on('data', (chunk: BlobChunk) => {
      if (chunk.offset !== expected) {
        out.destroy(new Error(`peer sent offset ${chunk.offset}, expected ${expected}`));
        return;
      }
      expected += chunk.data.length;
      received += chunk.data.length;
      this.bytesCopied += chunk.data.length;
      this.bytesInFlight += chunk.data.length;
      if (!out.push(Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength))) call.pause();
    });
    call.on('end', () => {
      settle();
      out.push(null);
    });
    call.on('error', (err) => {
      settle();
      out.destroy(err);
    });
    return out;
  }

  close(): void {
    this.client.close();
  }
}
