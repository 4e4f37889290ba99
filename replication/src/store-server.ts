import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  PeerStatus,
  type Hlc,
  type IngestPart,
  type IngestStep,
  type PositionRef,
  type RegionStoreServer,
  type StatusReport,
} from 'georeg/proto';
import { RegionStoreDefinition } from './ingest-parts.js';
import { isRegionId, type HlcTimestamp, type Logger } from 'georeg/nodes';
import { parseDigest, parseName, parseTag } from 'georeg/oci';
import { grpcError, shutdown, unary } from './grpc-calls.js';
import type { RegionStore } from './region-store.js';

/** A clock reading from the wire; one without a region cannot be ordered. */
function hlc(at: Hlc | undefined): HlcTimestamp | undefined {
  return at && at.region ? { wallMs: at.wallMs, logical: at.logical, region: at.region } : undefined;
}

function required(at: Hlc | undefined): HlcTimestamp {
  const t = hlc(at);
  if (!t) throw new TypeError('a clock reading is required');
  return t;
}

/**
 * One IngestBlob call: the first part names the blob; the store asks for the
 * bytes from an offset (sent to the replicator as a step), and the parts that
 * follow are those bytes, with back-pressure through gRPC flow control.
 */
function ingest(store: RegionStore, call: ServerDuplexStream<IngestPart, IngestStep>, log: Logger): void {
  const data = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  // A copy the replicator gives up on (or a replicator that goes away) ends with an error, but
  // only after the bytes that did arrive: the node keeps them, and the next copy resumes there.
  let lost: string | undefined;
  const bytes = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of data) yield chunk as Buffer;
    if (lost) throw new Error(lost);
  };
  const end = (why: string): void => {
    lost ??= why;
    data.end();
  };
  let started = false;
  const fail = (err: unknown): void => {
    if (!(err as { kind?: unknown }).kind) log.warn('blob ingest failed', { err });
    end('the copy failed');
    call.emit('error', grpcError(err));
  };
  call.on('data', (part: IngestPart) => {
    if (part.abort) return end('the replicator lost its source');
    if (started) {
      // Bytes after the copy was ended (its own abort) are a replicator's bug: dropped, not a crash.
      if (data.writableEnded) return;
      if (!data.write(part.data)) call.pause();
      return;
    }
    started = true;
    let repo: string;
    let digest: ReturnType<typeof parseDigest>;
    try {
      repo = parseName(part.repository);
      digest = parseDigest(part.digest);
    } catch (err) {
      fail(err);
      return;
    }
    store
      .ingestBlob(repo, digest, (offset) => {
        call.write({ offset, done: false, fetched: false });
        return Readable.from(bytes());
      })
      .then((fetched) => {
        call.write({ offset: 0, done: true, fetched });
        call.end();
      }, fail);
  });
  data.on('drain', () => call.resume());
  call.on('end', () => data.end());
  call.on('cancelled', () => end('the replicator went away'));
}

/** What the replicator last reported, for the node's status: peers and when it said so. */
export interface ReportedStatus {
  peers: PeerStatus[];
  at: number;
}

/**
 * The peers of a status report: its PeerStatus messages, or the JSON list a
 * replicate process of the previous release sends instead (read for one release).
 */
function reportedPeers(r: StatusReport): PeerStatus[] {
  if (r.peers.length > 0 || !r.peersJson) return r.peers;
  const peers = JSON.parse(r.peersJson) as unknown;
  if (!Array.isArray(peers) || !peers.every((p) => typeof (p as { region?: unknown }).region === 'string'))
    throw new TypeError('a status report is a list of peers');
  return peers.map((p: Partial<PeerStatus>) => PeerStatus.fromPartial(p));
}

/** The RegionStore service over a store in this process (the node's registry). */
export function regionStoreImplementation(store: RegionStore, log: Logger, onReport: (r: ReportedStatus) => void): RegionStoreServer {
  const ref = (r: { repository: string; digest: string }) => [parseName(r.repository), parseDigest(r.digest)] as const;
  return {
    observe: unary(log, async (at: Hlc) => (await store.observe(required(at)), { ok: true })),
    hasManifest: unary(log, async (r: { repository: string; digest: string }) => ({ ok: await store.hasManifest(...ref(r)) })),
    putManifest: unary(log, async (r: { repository: string; digest: string; mediaType: string; content: Buffer }) => {
      await store.putManifest(...ref(r), Buffer.from(r.content), r.mediaType);
      return { ok: true };
    }),
    deleteManifest: unary(log, async (r: { repository: string; digest: string }) => (await store.deleteManifest(...ref(r)), { ok: true })),
    getTag: unary(log, async (r: { repository: string; tag: string }) => {
      const t = await store.tag(parseName(r.repository), parseTag(r.tag));
      return { tag: r.tag, digest: t.digest ?? '', timestamp: t.clock };
    }),
    putTag: unary(log, async (r: { repository: string; tag: string; digest: string; timestamp?: Hlc }) => {
      const [repo, digest] = ref(r);
      return { ok: await store.putTag(repo, parseTag(r.tag), digest, hlc(r.timestamp)) };
    }),
    deleteTag: unary(log, async (r: { repository: string; tag: string; timestamp?: Hlc }) => ({
      ok: await store.deleteTag(parseName(r.repository), parseTag(r.tag), hlc(r.timestamp)),
    })),
    hasBlob: unary(log, async (r: { repository: string; digest: string }) => ({ ok: await store.hasBlob(...ref(r)) })),
    ingestBlob: (call) => ingest(store, call, log),
    applyPolicy: unary(log, async (r: { document: string; timestamp?: Hlc }) => ({
      ok: await store.applyPolicy(r.document, required(r.timestamp)),
    })),
    applyIdentity: unary(log, async (r: { key: string; record: string; timestamp?: Hlc }) => ({
      ok: await store.applyIdentity(r.key, r.record, required(r.timestamp)),
    })),
    applyLock: unary(log, async (r: { key: string; record: string; timestamp?: Hlc }) => ({
      ok: await store.applyLock(r.key, r.record, required(r.timestamp)),
    })),
    getTreeNodes: unary(log, (r: { paths: string[] }) => store.treeNodes(r.paths)),
    getTreeLeaves: unary(log, (r: { paths: string[] }) => store.treeLeaves(r.paths)),
    reportStatus: unary(log, async (r: StatusReport) => (onReport({ peers: reportedPeers(r), at: Date.now() }), { ok: true })),
    getPosition: unary(log, async (r: PositionRef) => {
      const seq = await store.positions?.get(parseRegion(r.peer), parseName(r.repository));
      return { kept: typeof seq === 'number', seq: seq ?? 0 };
    }),
    advancePosition: unary(log, async (r: PositionRef) => {
      await store.positions?.advance(parseRegion(r.peer), parseName(r.repository), r.seq);
      return { ok: store.positions !== undefined };
    }),
  };
}

export interface RunningStoreServer {
  close(): Promise<void>;
}

/**
 * Serve a region store on a unix socket (mode 0600, in a directory of mode
 * 0700: only this user's processes reach it, which is the whole of its access
 * control) for a `georeg replicate` process on the same host.
 */
export async function startRegionStoreServer(
  store: RegionStore,
  socket: string,
  log: Logger,
  onReport: (r: ReportedStatus) => void,
): Promise<RunningStoreServer> {
  // In a directory only this user can enter: the socket exists before it can be chmod-ed.
  await mkdir(dirname(socket), { recursive: true, mode: 0o700 });
  await chmod(dirname(socket), 0o700);
  await rm(socket, { force: true }); // a socket left by a killed node
  const server = new Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  server.addService(RegionStoreDefinition, regionStoreImplementation(store, log, onReport));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  await chmod(socket, 0o600);
  log.info('region store listening for a replicate process', { socket });
  return {
    // A copy in progress is cut after a moment (its staged bytes stay for the next one): a node must stop.
    close: async () => {
      await shutdown(server);
      await rm(socket, { force: true });
    },
  };
}

/** A peer region's id as the replicator names it. */
function parseRegion(s: string): string {
  if (!isRegionId(s)) throw new RangeError(`not a region id: ${JSON.stringify(s.slice(0, 64))}`);
  return s;
}
