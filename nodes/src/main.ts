import { mkdir, readFile } from 'node:fs/promises';
import { PolicyError } from 'georeg/trust';
import { OciError } from 'georeg/oci';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ConfigError, parseListen, parsePeers, type Config } from './config.js';
import type { Logger } from './log.js';
import type { MetaStore } from './meta/store.js';
import { FsBlobDriver } from './storage/fs-driver.js';
import { MemoryBlobDriver } from './storage/memory-driver.js';
import { CachingBlobStore } from './storage/caching-store.js';
import type { SignedBlobUrls } from './storage/driver.js';
import { LevelMetaStore } from './meta/level-store.js';
import { MemoryMetaStore } from './meta/memory-store.js';
import { Registry, type RegistryStores } from './registry/registry.js';
import { PolicyFileError, readPolicyFile } from './trust/policy-file.js';
import { runGc, type GcOptions } from './registry/gc.js';
import { NodeMetrics } from './metrics.js';
import { setUpAuth } from './auth/setup.js';
import { natsAuth } from './events/nats-auth.js';
import { VERSION } from './version.js';
import { createHttpServer } from './http/server.js';
import { serverTlsOptions } from './http/tls.js';
import { AllowList } from './http/network.js';
import { EventRecorder } from './events/recorder.js';
import { HybridClock } from './hlc.js';
import { OutboxPublisher } from './events/publisher.js';
import { NodeStatus } from './status.js';
import { SharedStateFollower } from './shared-state.js';
import { registryRoutes } from './http/routes/index.js';
import { BlobRedirects } from './http/blob-redirect.js';
import { ManifestFetchThrough } from './http/fetch-through.js';
import { Placement } from './http/placement.js';
import { BlobStreamThrough } from './http/blob-stream-through.js';
import { StorageDownloads } from './http/storage-downloads.js';
import { RegionDrain } from './drain.js';
import { RoutingMetrics } from './routing-metrics.js';
import { UploadSessions } from './http/upload-forward.js';

export interface RunningNode {
  registry: Registry;
  /** The stores under the registry, which the node wires to its outbox publisher, status and metrics (and tests inspect). */
  stores: RegistryStores;
  server: Server;
  /** Base URL, e.g. http://127.0.0.1:5000 */
  url: string;
  /** Drains the event outbox to JetStream, when events are on. */
  publisher?: OutboxPublisher;
  /** This region's hybrid logical clock (replication folds peers' timestamps into it). */
  clock: HybridClock;
  /** What /georeg/v1/replication reports; a replicator in this process sets `replication`. */
  status: NodeStatus;
  /** Prometheus metrics served at /metrics. */
  metrics: NodeMetrics;
  close(): Promise<void>;
}

/** A registry over the stores a config names. */
export async function openRegistry(config: Config, events?: EventRecorder, clock?: HybridClock, log?: Logger): Promise<Registry> {
  return registryOver((await openStorage(config)).stores, config, events, clock, log);
}

/** How often a node whose metadata other nodes write too reads again what it holds in memory of it. */
const SHARED_STATE_SECONDS = 1;

/** What a node holds in memory of its metadata (locks, the trust policy, the drain state), followed in a store other nodes write. */
function sharedState(meta: MetaStore, registry: Registry, status: NodeStatus, log: Logger): SharedStateFollower {
  const hash = (store: 'locks' | 'policies') => async () => (await meta.digestTree().records(store)).toString('hex');
  return new SharedStateFollower(
    [
      { name: 'locks', fingerprint: hash('locks'), refresh: () => registry.locks.refresh() },
      { name: 'trust policy', fingerprint: hash('policies'), refresh: () => registry.policies.refresh() },
      {
        name: 'drain',
        fingerprint: async () => JSON.stringify(await meta.records('routing').get('drain')),
        refresh: () => status.drain.refresh(),
      },
    ],
    log,
  );
}

/**
 * Open the stores a config names (the LevelDB store fails if another process holds it), with the
 * signed URLs of its blobs when blob GETs are redirected to the storage service.
 */
async function openStorage(config: Config): Promise<{ stores: RegistryStores; direct?: { urls: SignedBlobUrls; ttlSeconds: number } }> {
  await mkdir(config.data, { recursive: true });
  const { driver: kind, directIo, azure, s3 } = config.storage;
  // The cloud SDKs and pg are loaded only by a node configured for them: tens of MiB resident otherwise.
  const remote =
    kind === 'azure'
      ? { driver: await (await import('./storage/azure-setup.js')).openAzureDriver(azure), settings: azure }
      : kind === 's3'
        ? { driver: await (await import('./storage/s3-setup.js')).openS3Driver(s3), settings: s3 }
        : undefined;
  const driver = remote?.driver ?? (kind === 'fs' ? new FsBlobDriver(config.data, { directIo }) : new MemoryBlobDriver());
  const blobs = new CachingBlobStore(driver, { maxBytes: config.cache.blobBytes, maxItemBytes: config.cache.maxItemBytes });
  const meta: MetaStore =
    config.meta.driver === 'level'
      ? await LevelMetaStore.open(join(config.data, 'meta'))
      : config.meta.driver === 'postgres'
        ? await (await import('./meta/pg-setup.js')).openPgMetaStore(config.meta.postgres)
        : new MemoryMetaStore();
  const direct = remote?.settings.redirect ? { urls: remote.driver, ttlSeconds: remote.settings.redirectTtlSeconds } : undefined;
  return { stores: { blobs, staging: driver, meta }, direct };
}

/** The registry over `stores`, with the trust policy file the config names loaded (it closes them when that fails). */
async function registryOver(
  stores: RegistryStores,
  config: Config,
  events?: EventRecorder,
  clock?: HybridClock,
  log?: Logger,
): Promise<Registry> {
  const registry = new Registry({
    ...stores,
    manifests: { maxManifestBytes: config.limits.maxManifestBytes },
    events,
    clock,
    log,
  });
  try {
    const file = config.trust.policyFile;
    await registry.policies.load(file ? { text: await readPolicyFile(file), source: file } : undefined);
  } catch (e) {
    await registry.close();
    throw e instanceof OciError || e instanceof PolicyError || e instanceof PolicyFileError
      ? new ConfigError(`trust.policyFile ${config.trust.policyFile}: ${e.message}`)
      : e;
  }
  return registry;
}

export function gcOptions(config: Config): Omit<GcOptions, 'dryRun'> {
  return { graceMs: config.gc.graceSeconds * 1000, uploadMaxAgeMs: config.uploads.maxAgeSeconds * 1000 };
}

/** Composition root: config → stores → services → HTTP, plus the upload-expiry and GC timers. */
export async function startNode(config: Config, log: Logger): Promise<RunningNode> {
  const tls = serverTlsOptions(config); // before opening anything: a bad certificate or plain HTTP where refused stops here
  const allow = AllowList.parse(config.network.allow);
  const peerRegions = parsePeers(config.replication.peers).map((p) => p.region);
  const placement = Placement.parse(config.network.placement, [config.region, ...peerRegions]);
  const clock = new HybridClock(config.region);
  const events = config.nats.url ? new EventRecorder(clock) : undefined;
  const natsCredentials = events && natsAuth(config); // a bad NATS credential setting stops here, before anything is open
  const { stores, direct } = await openStorage(config);
  const registry = await registryOver(stores, config, events, clock, log);
  const limits = { maxAgeSeconds: config.replication.streamMaxAgeSeconds, maxBytes: config.replication.streamMaxBytes };
  const publisher =
    events && new OutboxPublisher(stores.meta, { servers: config.nats.url, auth: natsCredentials, region: config.region, limits, log });
  if (publisher && events) {
    events.onCommitted(() => publisher.notify());
    publisher.start();
  }
  const gc = gcOptions(config);
  const status = new NodeStatus(config.region, registry, stores.meta, await RegionDrain.open(stores.meta.records('routing')), publisher);
  const metrics = new NodeMetrics({ region: config.region, version: VERSION, dataDir: config.data, registry, stores, status, publisher });
  let auth;
  try {
    auth = await setUpAuth(config, registry.identities, log);
  } catch (e) {
    await publisher?.stop();
    await registry.close();
    throw e;
  }
  const routing = new RoutingMetrics(metrics.registry);
  const redirects = config.replication.redirect ? new BlobRedirects(status, auth, placement, routing) : undefined;
  const fetchThrough = config.replication.fetchThrough ? new ManifestFetchThrough(status, log, routing) : undefined;
  const streaming = config.replication.fetchThrough ? new BlobStreamThrough(status, routing) : undefined;
  const downloads = direct && new StorageDownloads(direct.urls, direct.ttlSeconds, routing);
  const sessions = peerRegions.length
    ? new UploadSessions(status, config.replication.tlsCa ? await readFile(config.replication.tlsCa) : undefined)
    : undefined;
  const server = createHttpServer(
    registryRoutes(registry, gc, status, metrics, auth, redirects, fetchThrough, sessions, streaming, downloads),
    {
      accessLog: config.log.access,
      log,
      metrics,
      tls,
      allow,
      idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
      region: config.region,
    },
  );
  const { host, port } = parseListen(config.listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (e) {
    await publisher?.stop();
    await registry.close();
    throw e;
  }
  const addr = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  const timers: NodeJS.Timeout[] = [];
  const every = (seconds: number, what: string, fn: () => Promise<unknown>): void => {
    if (seconds <= 0) return;
    const t = setInterval(() => void fn().catch((err: unknown) => log.error(`${what} failed`, { err })), seconds * 1000);
    t.unref();
    timers.push(t);
  };
  every(config.uploads.expireIntervalSeconds, 'upload expiry', () => registry.uploads.expire(gc.uploadMaxAgeMs));
  every(config.gc.intervalSeconds, 'gc', () => runGc(registry, { ...gc, dryRun: false }, log, metrics));
  const shared = stores.meta.shared ? sharedState(stores.meta, registry, status, log) : undefined;
  if (shared) every(SHARED_STATE_SECONDS, 'shared state', () => shared.round());

  log.info('registry listening', {
    url,
    region: config.region,
    data: config.data,
    storage: config.storage.driver,
    meta: config.meta.driver,
    events: config.nats.url ? 'nats' : 'off',
  });
  return {
    registry,
    stores,
    server,
    url,
    publisher,
    clock,
    status,
    metrics,
    async close() {
      timers.forEach(clearInterval);
      await publisher?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await registry.close();
    },
  };
}
