import { Readable } from 'node:stream';
import { connectivityState, credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { isOriginUrl } from 'georeg/nodes';
import { callUnary, unimplemented, type UnaryInvoke } from './grpc-calls.js';
import { FastReplicationClient } from './blob-chunks.js';
import {
  type BlobChunk,
  type BlobStat,
  type StatBlobRequest,
  type GetManifestRequest,
  type ListRepositoriesRequest,
  type ListRepositoryRequest,
  type LocateRequest,
  type PolicyState,
  type IdentityList,
  type LockList,
  type Location,
  type Manifest,
  type RepositoryNames,
  type RepositoryPage,
  type ReplicationClient,
  type StatusReply,
  type TreeLeaves,
  type TreeNodes,
} from 'georeg/proto';

const stopping = (): Error => new Error('replication is stopping');

/** Unary calls give up after this long by default. */
const UNARY_MS = 30_000;
/** A peer that keeps a blob stream open but sends nothing (or a trickle) must not hold a copy forever. */
const BLOB_IDLE_MS = 60_000;
/**
 * A connection attempt still hanging after this long is given up for a fresh one. A partition that
 * drops packets leaves a TCP connect waiting for the kernel's next SYN retry (1, 3, 7, 15, 31, 63 s
 * after the first), and grpc-js sets no connect timeout: without this, a region could wait up to a
 * minute after the network healed before reaching its peer again.
 */
const CONNECT_STUCK_MS = 2000;

const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  // HTTP/2's default 64 KiB window allows one round trip per 64 KiB: far too little for blobs.
  // 4 MiB: with 8 the 1 GiB e2e copy peaked at 183-200 MiB resident, with 4 at 166-174 (2 no
  // lower), at the same rate on loopback.
  'grpc-node.flow_control_window': 4 * 1024 * 1024,
  // A peer cut off mid-copy (a partition, no reset) would hold a blob stream forever: a
  // connection whose pings go unanswered for 10 s is closed, and the copy resumes later.
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  // A peer that refused connections is tried again within a second (grpc's default backoff grows
  // to two minutes): so a region that comes back is reached at once.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Each PeerClient owns its connection, so replacing a hung one (see CONNECT_STUCK_MS) really connects anew.
  'grpc.use_local_subchannel_pool': 1,
};

/** A peer region's Replication service, with the calls the copier needs as promises and streams. */
export class PeerClient {
  private client: ReplicationClient;
  /** Since when the channel has been trying to connect, as last seen by a failed ping. */
  #connectingSince?: number;
  /** Bytes received of blobs still being copied. */
  bytesInFlight = 0;
  /** Blob bytes received from this peer, and blobs copied whole (counted by the copier). */
  bytesCopied = 0;
  blobsCopied = 0;
  /** Tag changes from this peer that lost to a newer one (counted by the copier). */
  conflicts = 0;
  /** Round trip of its health probe, smoothed (RFC 6298's 1/8 gain): which region is nearest. Undefined until one answered. */
  rttMs?: number;
  /** Whether its last probe answer said it is drained (out of routing). */
  drained = false;
  /** Its registry URL as clients reach it, as its last probe answer gave it (a plain http(s) origin only). */
  publicUrl?: string;
  /** Blob streams and unary calls in progress. */
  readonly #streams = new Set<Readable>();
  readonly #calls = new Set<{ cancel(): void }>();
  /** Set by cancelAll(): later calls fail at once too. */
  #cancelled = false;

  constructor(
    readonly region: string,
    readonly address: string,
    /** Mutual TLS between regions, or plain text (the default). */
    private readonly channel: ChannelCredentials = credentials.createInsecure(),
    /** A blob stream that brings no bytes this long, while read, fails (the copy resumes later). */
    private readonly blobIdleMs = BLOB_IDLE_MS,
  ) {
    this.client = new FastReplicationClient(address, channel, CHANNEL_OPTIONS);
  }

  /** One unary call with a deadline: a peer that hangs (not refuses) must not stall a loop or a shutdown. */
  private unary<Res>(invoke: UnaryInvoke<Res>, ms = UNARY_MS): Promise<Res> {
    if (this.#cancelled) return Promise.reject(stopping());
    let call: { cancel(): void } | undefined;
    const tracked: UnaryInvoke<Res> = (md, options, done) => {
      call = invoke(md, options, done) as { cancel(): void };
      this.#calls.add(call);
      return call;
    };
    return callUnary(tracked, ms).finally(() => call && this.#calls.delete(call));
  }

  /** A manifest's bytes and media type, and with `withReferrers` the digests of its referrers. */
  getManifest(repository: string, digest: string, withReferrers = false): Promise<Manifest> {
    return this.unary((md, o, done) =>
      this.client.getManifest({ repository, digest, withReferrers } satisfies GetManifestRequest, md, o, done),
    );
  }

  listRepositories(after: string, limit: number): Promise<RepositoryNames> {
    return this.unary((md, o, done) => this.client.listRepositories({ after, limit } satisfies ListRepositoriesRequest, md, o, done));
  }

  listRepository(repository: string, after: string, limit: number): Promise<RepositoryPage> {
    return this.unary((md, o, done) =>
      this.client.listRepository({ repository, after, limit } satisfies ListRepositoryRequest, md, o, done),
    );
  }

  /** The peer's own status: its replication from each of its peers. */
  status(ms: number): Promise<StatusReply> {
    return this.unary<StatusReply>((md, o, done) => this.client.status({ probe: false }, md, o, done), ms);
  }

  /** Whether the peer answers its Status RPC within `ms`; after a failure, a connection attempt that hangs is replaced. */
  ping(ms: number): Promise<boolean> {
    const started = performance.now();
    return this.unary<StatusReply>((md, o, done) => this.client.status({ probe: true }, md, o, done), ms).then(
      (reply) => {
        this.#connectingSince = undefined;
        this.drained = reply.drained;
        this.publicUrl = isOriginUrl(reply.publicUrl) ? reply.publicUrl : undefined;
        const rtt = performance.now() - started;
        this.rttMs = this.rttMs === undefined ? rtt : this.rttMs + (rtt - this.rttMs) / 8;
        return true;
      },
      () => {
        this.#unstick();
        return false;
      },
    );
  }

  /** Replace the channel when it has been connecting for CONNECT_STUCK_MS: its calls queued so far fail (UNAVAILABLE), later ones use the new one. */
  #unstick(): void {
    if (this.client.getChannel().getConnectivityState(false) !== connectivityState.CONNECTING) {
      this.#connectingSince = undefined;
      return;
    }
    this.#connectingSince ??= Date.now();
    if (Date.now() - this.#connectingSince < CONNECT_STUCK_MS) return;
    this.#connectingSince = undefined;
    this.client.close();
    this.client = new FastReplicationClient(this.address, this.channel, CHANNEL_OPTIONS);
  }

  listIdentities(): Promise<IdentityList> {
    return this.unary((md, o, done) => this.client.listIdentities({}, md, o, done));
  }

  /** The peer's locks; none from a region of a release before locks (it answers UNIMPLEMENTED). */
  async listLocks(): Promise<LockList> {
    const list = await this.unary<LockList>((md, o, done) => this.client.listLocks({}, md, o, done)).catch(unimplemented);
    return list ?? { locks: [] };
  }

  /** Nodes of the peer's digest tree; undefined from a region of a release before the tree (UNIMPLEMENTED). */
  treeNodes(paths: string[]): Promise<TreeNodes | undefined> {
    return this.unary<TreeNodes>((md, o, done) => this.client.getTreeNodes({ paths }, md, o, done)).catch(unimplemented);
  }

  treeLeaves(paths: string[]): Promise<TreeLeaves> {
    return this.unary((md, o, done) => this.client.getTreeLeaves({ paths }, md, o, done));
  }

  getPolicy(): Promise<PolicyState> {
    return this.unary((md, o, done) => this.client.getPolicy({}, md, o, done));
  }

  locate(repository: string, reference: string, ms = 5000): Promise<Location> {
    return this.unary((md, o, done) => this.client.locate({ repository, reference } satisfies LocateRequest, md, o, done), ms);
  }

  /** Whether the peer holds a blob, and its public URL (asked while a client waits: a short deadline). */
  statBlob(repository: string, digest: string): Promise<BlobStat> {
    return this.unary((md, o, done) => this.client.statBlob({ repository, digest } satisfies StatBlobRequest, md, o, done), 2000);
  }

  /**
   * The blob's bytes from `offset` on, as a stream (back-pressure reaches the peer through gRPC flow
   * control). `size` is the blob's size as the manifest declares it: bytes past it are never taken
   * (a peer could otherwise make this region store any amount for a small blob); the stream ends
   * there and the digest check decides. A stream that brings nothing for blobIdleMs while read fails.
   */
  readBlob(repository: string, digest: string, offset: number, size = Number.POSITIVE_INFINITY): Readable {
    const call = this.client.readBlob({ repository, digest, offset });
    let expected = offset;
    let received = 0;
    let idle: NodeJS.Timeout | undefined;
    let finished = false;
    const settle = (): void => {
      clearTimeout(idle);
      finished = true;
      this.bytesInFlight -= received;
      received = 0;
    };
    const waitForBytes = (): void => {
      clearTimeout(idle);
      idle = setTimeout(
        () => out.destroy(new Error(`peer ${this.region} sent no bytes of ${digest} for ${this.blobIdleMs / 1000} s`)),
        this.blobIdleMs,
      );
    };
    const out = new Readable({
      read() {
        call.resume();
        if (!finished) waitForBytes();
      },
      destroy(err, cb) {
        settle();
        call.cancel();
        cb(err);
      },
    });
    if (this.#cancelled) out.destroy(stopping());
    this.#streams.add(out);
    out.once('close', () => this.#streams.delete(out));
    call.on('data', (chunk: BlobChunk) => {
      if (finished) return;
      if (chunk.offset !== expected) {
        out.destroy(new Error(`peer sent offset ${chunk.offset}, expected ${expected}`));
        return;
      }
      const room = size - expected;
      const data = chunk.data.length > room ? chunk.data.subarray(0, Math.max(0, room)) : chunk.data;
      expected += data.length;
      received += data.length;
      this.bytesCopied += data.length;
      this.bytesInFlight += data.length;
      const more = out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      if (data.length < chunk.data.length) {
        settle();
        call.cancel();
        out.push(null);
      } else if (!more) {
        clearTimeout(idle); // waiting for our reader, not for the peer
        call.pause();
      }
    });
    call.on('end', () => {
      if (finished) return;
      settle();
      out.push(null);
    });
    call.on('error', (err) => {
      if (finished) return;
      settle();
      out.destroy(err);
    });
    return out;
  }

  /**
   * Fail every call in progress or asked for later (a replicator stopping): a
   * blob copy over a slow link, or an anti-entropy pass against a peer that
   * hangs, could otherwise hold a shutdown for minutes. What copies staged
   * stays, to resume from.
   */
  cancelAll(): void {
    this.#cancelled = true;
    for (const s of this.#streams) s.destroy(stopping());
    for (const c of this.#calls) c.cancel();
  }

  close(): void {
    this.client.close();
  }
}
