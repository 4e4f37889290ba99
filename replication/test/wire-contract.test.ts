import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, status as Status, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import { PeerStatus, RegionStoreClient, RegionStoreService, type StatusReport, type StoreReply, type StoreRef } from 'georeg/proto';
import { silentLogger } from 'georeg/nodes';
import { isOciError, oci, parseDigest } from 'georeg/oci';
import { ERROR_KIND, storeError } from '../src/grpc-calls.js';
import type { RegionStore } from '../src/region-store.js';
import { RemoteRegionStore } from '../src/remote-store.js';
import { ReportedReplication } from '../src/reported.js';
import { startRegionStoreServer, type ReportedStatus, type RunningStoreServer } from '../src/store-server.js';

const DIGEST = parseDigest(`sha256:${'a'.repeat(64)}`);

/** A peer with every field set, and one caught up with nothing to say (its optional fields absent). */
const busy: PeerStatus = {
  region: 'eu',
  lagSeconds: 1.5,
  pendingEvents: 3,
  bytesInFlight: 1024,
  lastError: 'eu: connection refused',
  applied: 10,
  failures: 2,
  repairs: 1,
  parked: 1,
  lastAntiEntropy: '2030-01-02T03:04:05.000Z',
  blobs: 4,
  bytes: 4096,
  retries: 1,
  deferred: 3,
  conflicts: 1,
  failuresByReason: { unreachable: 2 },
  up: true,
  rttMs: 12.5,
  drained: true,
  publicUrl: 'https://eu.example',
};
const quiet = PeerStatus.fromPartial({ region: 'ap', up: true });

/** As the previous release's replicator listed them, and its RemoteRegionStore sent them (JSON, absent fields left out). */
const previousReleaseJson = JSON.stringify([
  {
    region: 'eu',
    lagSeconds: 1.5,
    pendingEvents: 3,
    bytesInFlight: 1024,
    applied: 10,
    failures: 2,
    repairs: 1,
    parked: 1,
    lastAntiEntropy: '2030-01-02T03:04:05.000Z',
    blobs: 4,
    bytes: 4096,
    retries: 1,
    conflicts: 1,
    failuresByReason: { unreachable: 2 },
    up: true,
    lastError: 'eu: connection refused',
  },
  {
    region: 'ap',
    lagSeconds: 0,
    pendingEvents: 0,
    bytesInFlight: 0,
    applied: 0,
    failures: 0,
    repairs: 0,
    parked: 0,
    blobs: 0,
    bytes: 0,
    retries: 0,
    conflicts: 0,
    failuresByReason: {},
    up: true,
  },
]);

/** What GET /georeg/v1/replication shows of a report: the node's view, as JSON. */
async function asServed(report: ReportedStatus): Promise<unknown> {
  const reported = new ReportedReplication(
    [
      { region: 'eu', address: '127.0.0.1:1' },
      { region: 'ap', address: '127.0.0.1:1' },
    ],
    {} as RegionStore, // nothing is fetched through: only the status is read
  );
  try {
    reported.report(report);
    return JSON.parse(JSON.stringify(await reported.peers()));
  } finally {
    reported.close();
  }
}

function call<Req, Res>(fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

describe('wire contract: a replicate process and its node over the region store socket', () => {
  let dir: string;
  let socket: string;
  let server: RunningStoreServer;
  let reports: ReportedStatus[];
  /** The node's store: every call fails as a missing manifest. */
  const failing = { hasManifest: () => Promise.reject(oci('MANIFEST_UNKNOWN', 'gone')) } as unknown as RegionStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-wire-'));
    socket = join(dir, 'store.sock');
    reports = [];
    server = await startRegionStoreServer(failing, socket, silentLogger, (r) => reports.push(r));
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Send a report as the generated client encodes it (`peersJson` alone is what the previous release sent: field 1, a string). */
  async function report(r: StatusReport): Promise<void> {
    const client = new RegionStoreClient(`unix:${socket}`, credentials.createInsecure());
    try {
      await call<StatusReport, StoreReply>(client.reportStatus.bind(client), r);
    } finally {
      client.close();
    }
  }

  describe('status reports: PeerStatus messages, and for one release the JSON of the previous one', () => {
    it('carries PeerStatus messages, which the node serves as the replicator listed them', async () => {
      const store = new RemoteRegionStore(socket);
      try {
        await store.report([busy, quiet]);
      } finally {
        store.close();
      }
      assert.deepEqual(
        reports.map((r) => r.peers),
        [[busy, quiet]],
      );
      assert.deepEqual(await asServed(reports[0] as ReportedStatus), JSON.parse(JSON.stringify([busy, quiet])));
    });

    it('reads the JSON list a replicate process of the previous release sends, and serves it as that release did', async () => {
      await report({ peersJson: previousReleaseJson, peers: [] });
      // That release knew no round trip, drain, public URL or deferred events.
      assert.deepEqual(
        reports.map((r) => r.peers),
        [[{ ...busy, rttMs: undefined, drained: false, publicUrl: undefined, deferred: 0 }, quiet]],
      );
      const served = (JSON.parse(previousReleaseJson) as object[]).map((p) => ({ ...p, drained: false, deferred: 0 }));
      assert.deepEqual(await asServed(reports[0] as ReportedStatus), served, 'as that release did, and not drained');
    });

    it('prefers the messages when a report carries both', async () => {
      await report({ peersJson: JSON.stringify([{ region: 'us' }]), peers: [quiet] });
      assert.deepEqual(
        reports.map((r) => r.peers),
        [[quiet]],
      );
    });

    it('refuses JSON that is not a list of peers', async () => {
      await assert.rejects(report({ peersJson: '{"region":"eu"}', peers: [] }), (e: ServiceError) => e.code === Status.INTERNAL);
      assert.deepEqual(reports, []);
    });
  });

  describe('errors: a gRPC status with the OCI kind in a trailer, and the `KIND: message` text of the previous release', () => {
    it('sends the kind in the georeg-error-kind trailer; the replicate process gets the same OCI error back', async () => {
      const client = new RegionStoreClient(`unix:${socket}`, credentials.createInsecure());
      const store = new RemoteRegionStore(socket);
      try {
        const raw = await call<StoreRef, StoreReply>(client.hasManifest.bind(client), { repository: 'team/app', digest: DIGEST }).catch(
          (e: ServiceError) => e,
        );
        assert.equal((raw as ServiceError).code, Status.NOT_FOUND);
        assert.deepEqual((raw as ServiceError).metadata.get(ERROR_KIND), ['MANIFEST_UNKNOWN']);
        await assert.rejects(
          store.hasManifest('team/app', DIGEST),
          (e: unknown) => isOciError(e, 'MANIFEST_UNKNOWN') && e.message === 'gone',
        );
      } finally {
        client.close();
        store.close();
      }
    });

    it('reads the kind from the details of a node of the previous release (no trailer)', async () => {
      await server.close();
      const previous = new Server();
      previous.addService(RegionStoreService, {
        hasManifest: (_: unknown, done: sendUnaryData<StoreReply>) => done({ code: Status.NOT_FOUND, details: 'MANIFEST_UNKNOWN: gone' }),
      });
      await new Promise<void>((resolve, reject) =>
        previous.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
      server = { close: () => new Promise<void>((resolve) => previous.tryShutdown(() => resolve())) };
      const store = new RemoteRegionStore(socket);
      try {
        await assert.rejects(
          store.hasManifest('team/app', DIGEST),
          (e: unknown) => isOciError(e, 'MANIFEST_UNKNOWN') && e.message === 'gone',
        );
      } finally {
        store.close();
      }
    });

    it('takes the message after a kind prefix (which the next release stops sending) or as it is, and a kind it does not know as none', () => {
      const failure = (details: string, kind?: string): ServiceError => {
        const metadata = new Metadata();
        if (kind) metadata.set(ERROR_KIND, kind);
        return Object.assign(new Error(details), { code: Status.NOT_FOUND, details, metadata });
      };
      const seen = (e: Error): [string | undefined, string] => [isOciError(e) ? e.kind : undefined, e.message];
      assert.deepEqual(seen(storeError(failure('gone', 'MANIFEST_UNKNOWN'))), ['MANIFEST_UNKNOWN', 'gone']);
      assert.deepEqual(seen(storeError(failure('MANIFEST_UNKNOWN: gone', 'MANIFEST_UNKNOWN'))), ['MANIFEST_UNKNOWN', 'gone']);
      assert.deepEqual(seen(storeError(failure('gone', 'toString'))), [undefined, 'region store: gone']);
      assert.deepEqual(seen(storeError(failure('NO_SUCH_KIND: gone'))), [undefined, 'region store: NO_SUCH_KIND: gone']);
    });
  });
});
