import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import {
  type RegionStoreClient,
  type IngestStep,
  type PeerStatus,
  type Position,
  type StoreReply,
  type TagState as WireTag,
  type TreeLeaves,
  type TreeNodes,
} from 'georeg/proto';
import { FastRegionStoreClient } from './ingest-parts.js';
import type { HlcTimestamp, TagState } from 'georeg/nodes';
import { parseDigest, type Digest } from 'georeg/oci';
import { callUnary, storeError, unimplemented, type UnaryInvoke } from './grpc-calls.js';
import type { Positions, RegionStore } from './region-store.js';

/** A local call that takes longer than this is stuck (a blob copy is a stream and has no deadline). */
const CALL_MS = 60_000;

/**
 * The node's RegionStore as a `georeg replicate` process reaches it: over
 * gRPC on the unix socket the node serves in its data directory. Failures
 * come back as the OCI errors they were in the node (storeError).
 */
export class RemoteRegionStore implements RegionStore {
  private readonly client: RegionStoreClient;

  constructor(socket: string) {
    this.client = new FastRegionStoreClient(`unix:${socket}`, credentials.createInsecure(), {
      'grpc.max_send_message_length': 8 * 1024 * 1024,
    });
  }

  private call<Res>(invoke: UnaryInvoke<Res>): Promise<Res> {
    return callUnary(invoke, CALL_MS, storeError);
  }

  private async ok(invoke: UnaryInvoke<StoreReply>): Promise<boolean> {
    return (await this.call(invoke)).ok;
  }

  async observe(at: HlcTimestamp): Promise<void> {
    await this.ok((md, o, done) => this.client.observe(at, md, o, done));
  }

  hasManifest(repository: string, digest: Digest): Promise<boolean> {
    return this.ok((md, o, done) => this.client.hasManifest({ repository, digest }, md, o, done));
  }

  async putManifest(repository: string, digest: Digest, content: Buffer, mediaType: string): Promise<void> {
    await this.ok((md, o, done) => this.client.putManifest({ repository, digest, content, mediaType }, md, o, done));
  }

  async deleteManifest(repository: string, digest: Digest): Promise<void> {
    await this.ok((md, o, done) => this.client.deleteManifest({ repository, digest }, md, o, done));
  }

  async tag(repository: string, tag: string): Promise<TagState> {
    const t = await this.call<WireTag>((md, o, done) => this.client.getTag({ repository, tag }, md, o, done));
    return { digest: t.digest ? parseDigest(t.digest) : undefined, clock: t.timestamp };
  }

  putTag(repository: string, tag: string, digest: Digest, timestamp: HlcTimestamp | undefined): Promise<boolean> {
    return this.ok((md, o, done) => this.client.putTag({ repository, tag, digest, timestamp }, md, o, done));
  }

  deleteTag(repository: string, tag: string, timestamp: HlcTimestamp | undefined): Promise<boolean> {
    return this.ok((md, o, done) => this.client.deleteTag({ repository, tag, digest: '', timestamp }, md, o, done));
  }

  hasBlob(repository: string, digest: Digest): Promise<boolean> {
    return this.ok((md, o, done) => this.client.hasBlob({ repository, digest }, md, o, done));
  }

  /** Name the blob, learn the offset the node wants it from, stream it from there, and wait for the commit. */
  async ingestBlob(repository: string, digest: Digest, fetch: (offset: number) => Readable | Promise<Readable>): Promise<boolean> {
    const call = this.client.ingestBlob();
    const steps = (call as AsyncIterable<IngestStep>)[Symbol.asyncIterator]();
    const next = async (): Promise<IngestStep> => {
      const r = await steps.next().catch((err: unknown) => Promise.reject(storeError(err)));
      if (r.done) throw new Error('region store: the node ended the copy without an answer');
      return r.value;
    };
    const part = (data: Buffer, abort = false) => ({ repository: '', digest: '', data, abort });
    try {
      call.write({ ...part(Buffer.alloc(0)), repository, digest });
      let step = await next();
      if (step.done) return step.fetched;
      const source = await fetch(step.offset);
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          if (!call.write(part(chunk))) await once(call, 'drain');
        }
      } catch (err) {
        // The node keeps what arrived, so the next attempt resumes from there; wait until it has.
        call.end(part(Buffer.alloc(0), true));
        await next().catch(() => undefined);
        throw err;
      } finally {
        source.destroy();
      }
      call.end();
      step = await next();
      return step.fetched;
    } catch (err) {
      call.cancel();
      throw err;
    }
  }

  applyPolicy(document: string, timestamp: HlcTimestamp): Promise<boolean> {
    return this.ok((md, o, done) => this.client.applyPolicy({ document, timestamp }, md, o, done));
  }

  applyIdentity(key: string, record: string, timestamp: HlcTimestamp): Promise<boolean> {
    return this.ok((md, o, done) => this.client.applyIdentity({ key, record, timestamp }, md, o, done));
  }

  applyLock(key: string, record: string, timestamp: HlcTimestamp): Promise<boolean> {
    return this.ok((md, o, done) => this.client.applyLock({ key, record, timestamp }, md, o, done));
  }

  /** undefined from a node of a release before the digest tree (UNIMPLEMENTED). */
  treeNodes(paths: string[]): Promise<TreeNodes | undefined> {
    return callUnary<TreeNodes>((md, o, done) => this.client.getTreeNodes({ paths }, md, o, done), CALL_MS).catch((err: unknown) =>
      unimplemented(err, storeError),
    );
  }

  treeLeaves(paths: string[]): Promise<TreeLeaves> {
    return this.call((md, o, done) => this.client.getTreeLeaves({ paths }, md, o, done));
  }

  /** The node's positions; null from a node that keeps none or of a release before them (UNIMPLEMENTED). */
  readonly positions: Positions = {
    get: async (peer, repository) => {
      const position = await callUnary<Position>(
        (md, o, done) => this.client.getPosition({ peer, repository, seq: 0 }, md, o, done),
        CALL_MS,
      ).catch((err: unknown) => unimplemented(err, storeError));
      return position?.kept ? position.seq : null;
    },
    advance: async (peer, repository, seq) => {
      await this.ok((md, o, done) => this.client.advancePosition({ peer, repository, seq }, md, o, done));
    },
  };

  /** Tell the node how replication from each peer goes (what its status endpoints and metrics show). */
  async report(peers: PeerStatus[]): Promise<void> {
    await this.ok((md, o, done) => this.client.reportStatus({ peersJson: '', peers }, md, o, done));
  }

  close(): void {
    this.client.close();
  }
}
