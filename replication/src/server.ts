import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Server, ServerCredentials, status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import { grpcError, shutdown, unary } from './grpc-calls.js';
import { ReplicationDefinition } from './blob-chunks.js';
import {
  type BlobChunk,
  type PeerStatus,
  type ReadBlobRequest,
  type ReplicationServer,
  type StatusReply,
} from 'georeg/proto';
import { isOciError, locate, parseDigest, parseName, parseReference, type Registry, type Logger, type TagClock } from 'georeg/nodes';

/** Largest data field of one BlobChunk message. */
export const CHUNK_BYTES = 1024 * 1024;

export interface ReplicationServerOptions {
  region: string;
  log: Logger;
  /** This region's registry URL as clients reach it: where peers may redirect pulls of blobs they lack. */
  publicUrl?: string;
  /** Mutual TLS (replicationCredentials); plain text when absent. */
  credentials?: ServerCredentials;
  /** This region's replication status (the node's, which its replicator fills in). */
  status?: () => Promise<{ peers: PeerStatus[] }>;
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
    await registry.driver.writeTo(digest, sink, { start: offset, end: size - 1 }, { once: true });
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
      const referrers = req.withReferrers ? (await registry.meta.listReferrers(repo, record.digest)).map((d) => d.digest) : [];
      return { digest: record.digest, mediaType: record.mediaType, content: bytes, referrers };
    }),
    listRepository: unary(log, async (req: { repository: string; after: string; limit: number }) => {
      const repo = parseName(req.repository);
      const limit = Math.min(Math.max(req.limit || 1000, 1), 10_000);
      const tags = await registry.meta.listTags(repo, { last: req.after || undefined, n: limit + 1 });
      const more = tags.length > limit;
      const page = await Promise.all(
        tags.slice(0, limit).map(async (tag) => ({
          tag,
          digest: (await registry.meta.getTag(repo, tag)) ?? '',
          timestamp: await registry.meta.getTagClock(repo, tag),
        })),
      );
      const manifests: string[] = [];
      const deleted: { tag: string; digest: string; timestamp: TagClock }[] = [];
      if (!req.after) {
        for await (const m of registry.meta.listManifests(repo)) manifests.push(m.digest);
        for await (const { tag, clock } of registry.meta.listTagClocks(repo)) {
          if ((await registry.meta.getTag(repo, tag)) === undefined) deleted.push({ tag, digest: '', timestamp: clock });
        }
      }
      return { tags: page, manifests, more, deleted };
    }),
    listRepositories: unary(log, async (req: { after: string; limit: number }) => {
      const limit = Math.min(Math.max(req.limit || 1000, 1), 10_000);
      const names = await registry.meta.listRepositories({ last: req.after || undefined, n: limit + 1 });
      return { names: names.slice(0, limit), more: names.length > limit };
    }),
    status: unary(log, async (): Promise<StatusReply> => ({ region: opts.region, peers: (await opts.status?.())?.peers ?? [] })),
    listIdentities: unary(log, async () => {
      const identities = [];
      for await (const r of registry.identities.records()) identities.push({ key: r.key, record: r.record, timestamp: r.clock });
      return { identities };
    }),
    getPolicy: unary(log, async () => {
      const held = registry.policies.held();
      return { document: held?.document ?? '', timestamp: held?.clock };
    }),
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
      const where = await locate(registry, parseName(req.repository), parseReference(req.reference));
      return { region: opts.region, digest: where.digest ?? '', complete: where.complete, missing: where.missing };
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
    server.bindAsync(`${listen.host}:${listen.port}`, opts.credentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  opts.log.info('replication service listening', { host: listen.host, port });
  return {
    port,
    // A peer mid-copy (or one that stopped reading) would hold tryShutdown forever: it is cut after a grace period.
    close: () => shutdown(server),
  };
}
