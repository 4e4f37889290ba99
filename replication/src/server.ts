import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Server, ServerCredentials, status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import { grpcError, shutdown, unary } from './grpc-calls.js';
import { treeLeaves, treeNodes } from './tree-answers.js';
import { ReplicationDefinition } from './blob-chunks.js';
import {
  type BlobChunk,
  type PeerStatus,
  type ReadBlobRequest,
  type ReplicationServer,
  type StatusReply,
  type StatusRequest,
} from 'georeg/proto';
import type { Registry, Logger } from 'georeg/nodes';
import { isOciError, parseDigest, parseName, parseReference } from 'georeg/oci';

/** Largest data field of one BlobChunk message. */
export const CHUNK_BYTES = 1024 * 1024;

/** The entries of one listing page a peer asks for: 1000 unless it says, and 1 to 10,000. */
const pageSize = (limit: number): number => Math.min(Math.max(limit || 1000, 1), 10_000);

export interface ReplicationServerOptions {
  region: string;
  log: Logger;
  /** This region's registry URL as clients reach it: where peers may redirect pulls of blobs they lack. */
  publicUrl?: string;
  /** Mutual TLS (replicationCredentials); plain text when absent. */
  credentials?: ServerCredentials;
  /** This region's replication status (the node's, which its replicator fills in). */
  status?: () => Promise<{ peers: PeerStatus[] }>;
  /** Whether this region is drained (out of routing), told to every probe. */
  drained?: () => boolean;
}

/**
 * Stream a blob from an offset in chunks of at most CHUNK_BYTES. The driver reads into
 * buffers it reuses once a write's callback has run; gRPC calls that back only
 * after it has serialized (copied) the chunk and handed it to HTTP/2, so the
 * copy needs no buffer per chunk and waits for the peer's flow control.
 */
async function readBlob(registry: Registry, call: ServerWritableStream<ReadBlobRequest, BlobChunk>): Promise<void> {
  const repo = parseName(call.request.repository);
  const digest = parseDigest(call.request.digest);
  const size = await registry.blobs.stat(repo, digest);
  let offset = call.request.offset;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
    throw Object.assign(new Error('offset out of range'), { grpc: { code: Status.OUT_OF_RANGE, details: `offset must be 0..${size}` } });
  }
  if (offset === size) {
    call.write({ offset, data: Buffer.alloc(0), size });
    return;
  }
  let first = true;
  const sink = new Writable({
    write(data: Buffer, _encoding, done) {
      for (let at = 0; at < data.length; at += CHUNK_BYTES) {
        const piece = data.subarray(at, at + CHUNK_BYTES);
        const last = at + CHUNK_BYTES >= data.length;
        call.write({ offset, data: piece, size: first ? size : 0 }, last ? (err?: Error | null) => done(err) : undefined);
        first = false;
        offset += piece.length;
      }
    },
  });
  const cancel = (): void => {
    sink.destroy(); // the copy stops at its next write
  };
  call.once('cancelled', cancel);
  try {
    if (call.cancelled) return; // cancelled while the blob was looked up: read nothing
    // A peer's copy reads the blob once: past the page cache, which it would only churn.
    await registry.blobs.writeTo(digest, sink, { start: offset, end: size - 1 }, { once: true });
    // Some drivers' writeTo resolves once their source ended, with writes still queued in the sink.
    sink.end();
    await finished(sink);
  } finally {
    call.off('cancelled', cancel);
  }
}

/** The Replication service over a node's registry: what peers fetch content from. */
export function replicationImplementation(registry: Registry, opts: ReplicationServerOptions): ReplicationServer {
  const { log } = opts;
  return {
    readBlob(call) {
      readBlob(registry, call).then(
        () => call.end(),
        (err: unknown) => {
          if (call.cancelled) return; // the peer went away: nobody to tell, nothing went wrong here
          const grpc = (err as { grpc?: { code: Status; details: string } }).grpc;
          if (!grpc && !isOciError(err)) log.error('ReadBlob failed', { err });
          call.emit('error', grpc ?? grpcError(err));
        },
      );
    },
    getManifest: unary(log, async (req: { repository: string; digest: string; withReferrers: boolean }) => {
      const repo = parseName(req.repository);
      const { record, bytes } = await registry.manifests.get(repo, { digest: parseDigest(req.digest), tag: undefined });
      const referrers = req.withReferrers ? (await registry.listing.referrers(repo, record.digest)).map((d) => d.digest) : [];
      return { digest: record.digest, mediaType: record.mediaType, content: bytes, referrers };
    }),
    listRepository: unary(log, async (req: { repository: string; after: string; limit: number }) => {
      const page = await registry.replication.repository(parseName(req.repository), {
        last: req.after || undefined,
        n: pageSize(req.limit),
      });
      return {
        tags: page.tags.map((t) => ({ tag: t.tag, digest: t.digest ?? '', timestamp: t.clock })),
        manifests: page.manifests,
        more: page.more,
        deleted: page.deleted.map((t) => ({ tag: t.tag, digest: '', timestamp: t.clock })),
      };
    }),
    listRepositories: unary(log, async (req: { after: string; limit: number }) => {
      const { items, more } = await registry.listing.repositories({ last: req.after || undefined, n: pageSize(req.limit) });
      return { names: items, more };
    }),
    status: unary(log, async (req: StatusRequest): Promise<StatusReply> => ({
      region: opts.region,
      peers: req.probe ? [] : ((await opts.status?.())?.peers ?? []),
      drained: opts.drained?.() ?? false,
      publicUrl: opts.publicUrl ?? '',
    })),
    listIdentities: unary(log, async () => {
      const identities = [];
      for await (const r of registry.identities.records()) identities.push({ key: r.key, record: r.record, timestamp: r.clock });
      return { identities };
    }),
    listLocks: unary(log, async () => {
      const locks = [];
      for await (const r of registry.locks.records()) locks.push({ key: r.key, record: r.record, timestamp: r.clock });
      return { locks };
    }),
    getPolicy: unary(log, async () => {
      const held = registry.policies.held();
      return { document: held?.document ?? '', timestamp: held?.clock };
    }),
    getTreeNodes: unary(log, (req: { paths: string[] }) => treeNodes(registry.replication.digestTree(), req.paths)),
    getTreeLeaves: unary(log, (req: { paths: string[] }) => treeLeaves(registry.replication.digestTree(), req.paths)),
    statBlob: unary(log, async (req: { repository: string; digest: string }) => {
      try {
        const size = await registry.blobs.stat(parseName(req.repository), parseDigest(req.digest));
        return { present: true, size, url: opts.publicUrl ?? '' };
      } catch (err) {
        if (isOciError(err, 'BLOB_UNKNOWN')) return { present: false, size: 0, url: '' };
        throw err;
      }
    }),
    locate: unary(log, async (req: { repository: string; reference: string }) => {
      const repo = parseName(req.repository);
      const ref = parseReference(req.reference);
      // A tag is read with its clock and located by that digest: a region fetching it through gets the pair as one change.
      const held = ref.tag === undefined ? undefined : await registry.replication.tag(repo, ref.tag);
      const where = await registry.replication.locate(repo, held?.digest ? { digest: held.digest, tag: undefined } : ref);
      return { region: opts.region, digest: where.digest ?? '', complete: where.complete, missing: where.missing, timestamp: held?.clock };
    }),
  };
}

export interface RunningReplicationServer {
  port: number;
  close(): Promise<void>;
}

/** Serve the Replication service on host:port (port 0 picks a free one), over mutual TLS when given credentials. */
export async function startReplicationServer(
  registry: Registry,
  listen: { host: string; port: number },
  opts: ReplicationServerOptions,
): Promise<RunningReplicationServer> {
  const server = new Server({ 'grpc.max_send_message_length': CHUNK_BYTES * 2 });
  server.addService(ReplicationDefinition, replicationImplementation(registry, opts));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${listen.host}:${listen.port}`, opts.credentials ?? ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  opts.log.info('replication service listening', { host: listen.host, port });
  return {
    port,
    // A peer mid-copy (or one that stopped reading) would hold tryShutdown forever: it is cut after a grace period.
    close: () => shutdown(server),
  };
}
