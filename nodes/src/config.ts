import { readFileSync } from 'node:fs';
import type { LogLevel } from './log.js';

/** The whole node configuration: one typed object, validated at start. */
export interface Config {
  /** HOST:PORT to serve the registry API on. */
  listen: string;
  /** HTTPS: PEM files of the certificate (chain, leaf first) and its private key; both empty: plain HTTP. */
  tls: { cert: string; key: string };
  /** Allow plain HTTP on a non-loopback listen address (without it, such a node needs tls). */
  insecureHttp: boolean;
  /**
   * `allow`: comma-separated CIDRs (IPv4, IPv6) of the clients served; others get 403 DENIED. Empty: everyone.
   * `placement`: `CIDR=region,...`, the region each client range belongs to (blob GETs from a client placed
   * in another region go there when it holds the blob). Empty: clients are served where they ask.
   */
  network: { allow: string; placement: string };
  /** This node's region id: [a-z0-9-], unique in the cluster. */
  region: string;
  /**
   * The URL clients reach this node at (e.g. behind a TLS-terminating proxy):
   * the token challenge's realm, and where other regions redirect pulls of
   * blobs they do not hold yet. Empty: the realm comes from the request, and
   * no other region redirects clients here.
   */
  publicUrl: string;
  /**
   * NATS with JetStream for replication events; an empty url turns events off (a
   * single region). `user` and `passwordFile` (a file holding the password, so it
   * never shows in the config) authenticate to a NATS that requires it.
   */
  nats: { url: string; user: string; passwordFile: string };
  /**
   * Geo-replication, in the node's process: `listen` serves this region's content
   * to peers over gRPC (HOST:PORT, empty: off); `peers` names the regions to copy
   * from as `region=HOST:PORT,...` (their replication addresses; needs nats.url).
   * `tlsCa`, `tlsCert`, `tlsKey` (PEM files, all or none) turn on mutual TLS: the
   * service serves only peers with a certificate from `tlsCa`, and presents
   * `tlsCert` to the peers it copies from. With `redirect`, a GET of a blob
   * this region does not hold yet answers 307 to a peer region that holds it
   * (at the peer's publicUrl), with an URL signed for that repository and
   * digest when auth is on, valid `redirectTtlSeconds`. With `fetchThrough`, a
   * GET or HEAD of a manifest or tag this region does not hold yet copies it
   * from a peer that does, then answers. A peer region that stops answering
   * leaves routing within `failoverSeconds` and rejoins at its first answer. Events are applied
   * up to `concurrencyPerPeer` at once from each peer and `concurrency` in all
   * (one repository's always in order). With `external`, no replicator runs
   * in the node: it serves its storage on `<data>/replication/store.sock` to a
   * separate `georeg replicate` process. This region's event stream keeps events
   * `streamMaxAgeSeconds` and at most `streamMaxBytes` (0: no byte bound), the
   * oldest going first; a peer away for longer is repaired by anti-entropy.
   */
  replication: {
    listen: string;
    peers: string;
    antiEntropySeconds: number;
    tlsCa: string;
    tlsCert: string;
    tlsKey: string;
    redirect: boolean;
    redirectTtlSeconds: number;
    fetchThrough: boolean;
    failoverSeconds: number;
    concurrencyPerPeer: number;
    concurrency: number;
    external: boolean;
    streamMaxAgeSeconds: number;
    streamMaxBytes: number;
  };
  /** Directory for blobs, metadata and upload staging. */
  data: string;
  /**
   * Where blobs and upload staging live: `fs` (under `data`), `memory`, `azure` (a container of
   * Azure Blob Storage, `azure`) or `s3` (a bucket of S3 or an S3-compatible store, `s3`). `directIo`:
   * the fs driver writes upload staging files with O_DIRECT where the filesystem supports it.
   */
  storage: { driver: 'fs' | 'memory' | 'azure' | 's3'; directIo: boolean; azure: AzureStorageConfig; s3: S3StorageConfig };
  /** Where metadata lives: `level` (LevelDB under `data`), `memory`, or `postgres` (a database nodes can share, `postgres`). */
  meta: { driver: 'level' | 'memory' | 'postgres'; postgres: PostgresMetaConfig };
  log: { level: LogLevel; access: boolean };
  /** `idleTimeoutSeconds`: a request body (an upload) that brings no bytes for this long has its connection closed (0: never). */
  limits: { maxManifestBytes: number; idleTimeoutSeconds: number };
  cache: { blobBytes: number; maxItemBytes: number };
  uploads: { maxAgeSeconds: number; expireIntervalSeconds: number };
  gc: { intervalSeconds: number; graceSeconds: number };
  /**
   * Content trust: `policyFile` is a JSON trust document (keys, policies per
   * repository glob) applied at start whenever the file changed since it was
   * last applied; the admin API changes it at run time. Empty: keep the stored one.
   */
  trust: { policyFile: string };
  /**
   * Authentication (off by default for a local single node). `service` is the
   * token audience, the same in every region; `signingKeyFile` an ECDSA P-256
   * PEM key shared by every region (empty: one generated in the data dir);
   * `anonymousPull` comma-separated repository globs anyone may pull.
   */
  auth: {
    enabled: boolean;
    service: string;
    issuer: string;
    signingKeyFile: string;
    tokenTtlSeconds: number;
    refreshTtlSeconds: number;
    anonymousPull: string;
  };
}

/**
 * The Azure Blob Storage account and container of `storage.driver` `azure`: either `url` (the blob
 * service endpoint, https://ACCOUNT.blob.core.windows.net) with `accountName` and `accountKeyFile`,
 * or `connectionStringFile`; secrets are read from files, so they never show in the config. With
 * `redirect`, a blob GET answers 307 to a read-only SAS URL of that blob, valid `redirectTtlSeconds`.
 */
export interface AzureStorageConfig {
  url: string;
  accountName: string;
  accountKeyFile: string;
  connectionStringFile: string;
  container: string;
  redirect: boolean;
  redirectTtlSeconds: number;
}

/**
 * The bucket of `storage.driver` `s3`: `bucket` in `region`, at AWS S3 or, with `endpoint`, at an
 * S3-compatible store (`forcePathStyle` for stores without bucket host names). Credentials are read
 * from `accessKeyIdFile` and `secretAccessKeyFile`, or, when both are empty, found by the AWS SDK's
 * default chain (environment, shared files, instance or container role). Every key starts with
 * `prefix`. With `redirect`, a blob GET answers 307 to a presigned GetObject URL of that blob, valid
 * `redirectTtlSeconds`.
 */
export interface S3StorageConfig {
  bucket: string;
  region: string;
  endpoint: string;
  forcePathStyle: boolean;
  accessKeyIdFile: string;
  secretAccessKeyFile: string;
  prefix: string;
  redirect: boolean;
  redirectTtlSeconds: number;
}

/**
 * The database of `meta.driver` `postgres`: its connection string in `url`, or read at start from
 * the file `urlFile`, so that a password stays out of the config (one of the two); `poolSize`
 * connections at most.
 */
export interface PostgresMetaConfig {
  url: string;
  urlFile: string;
  poolSize: number;
}

export const defaultConfig: Config = {
  listen: '127.0.0.1:5000',
  tls: { cert: '', key: '' },
  insecureHttp: false,
  network: { allow: '', placement: '' },
  region: 'local',
  publicUrl: '',
  nats: { url: '', user: '', passwordFile: '' },
  replication: {
    listen: '',
    peers: '',
    antiEntropySeconds: 300,
    tlsCa: '',
    tlsCert: '',
    tlsKey: '',
    redirect: true,
    redirectTtlSeconds: 60,
    fetchThrough: true,
    failoverSeconds: 10,
    concurrencyPerPeer: 8,
    concurrency: 16,
    external: false,
    streamMaxAgeSeconds: 7 * 24 * 3600,
    streamMaxBytes: 0,
  },
  data: './data',
  storage: {
    driver: 'fs',
    directIo: true,
    azure: {
      url: '',
      accountName: '',
      accountKeyFile: '',
      connectionStringFile: '',
      container: 'georeg',
      redirect: false,
      redirectTtlSeconds: 300,
    },
    s3: {
      bucket: '',
      region: '',
      endpoint: '',
      forcePathStyle: false,
      accessKeyIdFile: '',
      secretAccessKeyFile: '',
      prefix: '',
      redirect: false,
      redirectTtlSeconds: 300,
    },
  },
  meta: { driver: 'level', postgres: { url: '', urlFile: '', poolSize: 10 } },
  log: { level: 'info', access: true },
  limits: { maxManifestBytes: 4 * 1024 * 1024, idleTimeoutSeconds: 120 },
  cache: { blobBytes: 64 * 1024 * 1024, maxItemBytes: 1024 * 1024 },
  uploads: { maxAgeSeconds: 24 * 3600, expireIntervalSeconds: 600 },
  gc: { intervalSeconds: 0, graceSeconds: 3600 },
  trust: { policyFile: '' },
  auth: {
    enabled: false,
    service: 'georeg',
    issuer: 'georeg',
    signingKeyFile: '',
    tokenTtlSeconds: 300,
    refreshTtlSeconds: 30 * 24 * 3600,
    anonymousPull: '',
  },
};

const ENUMS: Record<string, readonly string[]> = {
  'storage.driver': ['fs', 'memory', 'azure', 's3'],
  'meta.driver': ['level', 'memory', 'postgres'],
  'log.level': ['debug', 'info', 'warn', 'error'],
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Tree = Record<string, unknown>;

/** Every leaf of the default config as [dotted key, default value]. */
function leaves(obj: Tree, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? leaves(v as Tree, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

/** `uploads.maxAgeSeconds` → `GEOREG_UPLOADS_MAX_AGE_SECONDS`. */
export function envName(key: string): string {
  return (
    'GEOREG_' +
    key
      .replace(/\./g, '_')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toUpperCase()
  );
}

function coerce(key: string, raw: unknown, like: unknown, source: string): unknown {
  if (typeof like === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (typeof raw === 'boolean' || raw === '' || !Number.isFinite(n) || n < 0)
      throw new ConfigError(`${source}: ${key} must be a non-negative number`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${source}: ${key} must be true or false`);
  }
  if (typeof raw !== 'string' || (raw === '' && like !== '')) throw new ConfigError(`${source}: ${key} must be a non-empty string`);
  const allowed = ENUMS[key];
  if (allowed && !allowed.includes(raw)) throw new ConfigError(`${source}: ${key} must be one of ${allowed.join(', ')}`);
  return raw;
}

function set(tree: Tree, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const p of parts.slice(0, -1)) node = node[p] as Tree;
  node[parts[parts.length - 1] as string] = value;
}

/** Every section of the default config (`replication`, `auth`, ...): the only keys a file may give an object. */
function sections(obj: Tree, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? [`${prefix}${k}`, ...sections(v as Tree, `${prefix}${k}.`)] : [],
  );
}

/**
 * A config file as dotted keys. Only known sections are descended into, so
 * every other key at any depth (an empty `{"lgo": {}}` too) reaches `apply`
 * and is refused there with its path.
 */
function flatten(obj: unknown, prefix: string, known: ReadonlySet<string>, out: Map<string, unknown>, source: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new ConfigError(`${source}: ${prefix.slice(0, -1) || 'config'} must be an object`);
  for (const [k, v] of Object.entries(obj)) {
    const key = `${prefix}${k}`;
    if (known.has(key)) flatten(v, `${key}.`, known, out, source);
    else out.set(key, v);
  }
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Dotted keys from command-line flags, applied last. */
  overrides?: Record<string, unknown>;
}

/** defaults < config file (JSON) < GEOREG_* environment < command-line flags. Unknown keys are errors. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const config = structuredClone(defaultConfig);
  const known = new Map(leaves(config as unknown as Tree));
  const apply = (key: string, raw: unknown, source: string): void => {
    if (!known.has(key)) throw new ConfigError(`${source}: unknown setting ${key}`);
    set(config as unknown as Tree, key, coerce(key, raw, known.get(key), source));
  };
  if (sources.file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(sources.file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(e as Error).message}`);
    }
    const flat = new Map<string, unknown>();
    flatten(parsed, '', new Set(sections(config as unknown as Tree)), flat, sources.file);
    for (const [k, v] of flat) apply(k, v, sources.file);
  }
  const env = sources.env ?? {};
  if (env.GEOREG_AUTH_PUBLIC_URL !== undefined)
    throw new ConfigError('GEOREG_AUTH_PUBLIC_URL: auth.publicUrl is now publicUrl (GEOREG_PUBLIC_URL)');
  for (const key of known.keys()) {
    const v = env[envName(key)];
    if (v !== undefined) apply(key, v, envName(key));
  }
  for (const [k, v] of Object.entries(sources.overrides ?? {})) apply(k, v, 'command line');
  parseListen(config.listen);
  if (!isRegionId(config.region)) throw new ConfigError(`region must be [a-z0-9-], got ${JSON.stringify(config.region)}`);
  if (config.publicUrl && !isOriginUrl(config.publicUrl))
    throw new ConfigError(`publicUrl must be http(s)://HOST[:PORT], got ${JSON.stringify(config.publicUrl)}`);
  for (const key of ['redirectTtlSeconds', 'failoverSeconds', 'concurrencyPerPeer', 'concurrency', 'streamMaxAgeSeconds'] as const) {
    const v = config.replication[key];
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`replication.${key} must be a whole number of at least 1, got ${v}`);
  }
  const maxBytes = config.replication.streamMaxBytes;
  if (!Number.isInteger(maxBytes) || (maxBytes !== 0 && maxBytes < MIN_STREAM_BYTES))
    throw new ConfigError(
      `replication.streamMaxBytes must be 0 (no bound) or a whole number of at least 1 MiB (${MIN_STREAM_BYTES}), got ${maxBytes}`,
    );
  if (config.replication.listen) parseListen(config.replication.listen);
  if (config.storage.driver === 'azure') checkAzure(config.storage.azure);
  if (config.storage.driver === 's3') checkS3(config.storage.s3);
  if (config.meta.driver === 'postgres') checkPostgres(config.meta.postgres);
  const peers = parsePeers(config.replication.peers);
  if (peers.length && !config.nats.url) throw new ConfigError('replication.peers needs nats.url (events come through NATS)');
  if (peers.some((p) => p.region === config.region)) throw new ConfigError('replication.peers must not name this region');
  return config;
}

const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Whether `s` is a region id: [a-z0-9-], up to 63 characters, not starting with '-'. */
export function isRegionId(s: string): boolean {
  return REGION.test(s);
}
/** A byte bound below this would hold only a few thousand events: more likely bytes meant as another unit. */
const MIN_STREAM_BYTES = 1024 * 1024;
/** A storage service's URL: http(s), a host, an optional path; no user, query or fragment (a SAS token has no place here). */
const SERVICE_URL = /^https?:\/\/[^/?#@\s]+(\/[^?#\s]*)?$/;
/** Azure's container names: 3 to 63 lowercase letters, digits and single hyphens, a letter or digit at each end. */
const CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/** The settings `storage.driver` `azure` needs: one way to reach the account, a valid container name and lifetime. */
function checkAzure(azure: AzureStorageConfig): void {
  const key = azure.url !== '' || azure.accountName !== '' || azure.accountKeyFile !== '';
  if (azure.connectionStringFile ? key : !(azure.url && azure.accountName && azure.accountKeyFile))
    throw new ConfigError(
      'storage.driver azure needs storage.azure.connectionStringFile, or storage.azure.url, accountName and accountKeyFile (one of the two)',
    );
  if (azure.url && !SERVICE_URL.test(azure.url))
    throw new ConfigError(`storage.azure.url must be http(s)://HOST[/PATH], got ${JSON.stringify(azure.url)}`);
  if (!CONTAINER.test(azure.container))
    throw new ConfigError(
      `storage.azure.container must be 3-63 lowercase letters, digits and single hyphens, got ${JSON.stringify(azure.container)}`,
    );
  if (!Number.isInteger(azure.redirectTtlSeconds) || azure.redirectTtlSeconds < 1)
    throw new ConfigError(`storage.azure.redirectTtlSeconds must be a whole number of at least 1, got ${azure.redirectTtlSeconds}`);
}

/** S3's bucket names: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end. */
const BUCKET = /^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/;
/** A key prefix: path segments of letters, digits, `.`, `_` and `-` (no `.` or `..` alone), each ending in `/`. */
const KEY_PREFIX = /^(?:(?!\.\.?\/)[A-Za-z0-9._-]+\/)*$/;
/** The longest a presigned URL may live (SigV4: seven days). */
const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;

/** The settings `storage.driver` `s3` needs: a bucket and region, both key files or neither, and valid optional ones. */
function checkS3(s3: S3StorageConfig): void {
  if (!BUCKET.test(s3.bucket))
    throw new ConfigError(
      `storage.s3.bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens), got ${JSON.stringify(s3.bucket)}`,
    );
  if (!/^[a-z0-9-]+$/.test(s3.region))
    throw new ConfigError(
      `storage.s3.region must be a region such as eu-west-1 (us-east-1 for most S3-compatible stores), got ${JSON.stringify(s3.region)}`,
    );
  if (s3.endpoint && !SERVICE_URL.test(s3.endpoint))
    throw new ConfigError(`storage.s3.endpoint must be http(s)://HOST[:PORT][/PATH], got ${JSON.stringify(s3.endpoint)}`);
  if (!s3.accessKeyIdFile !== !s3.secretAccessKeyFile)
    throw new ConfigError(
      "storage.s3.accessKeyIdFile and storage.s3.secretAccessKeyFile go together (neither: the AWS SDK's default credentials)",
    );
  if (!KEY_PREFIX.test(s3.prefix))
    throw new ConfigError(
      `storage.s3.prefix must be empty or segments of letters, digits, '.', '_' and '-' each ending in '/' (georeg/eu/), got ${JSON.stringify(s3.prefix)}`,
    );
  if (!Number.isInteger(s3.redirectTtlSeconds) || s3.redirectTtlSeconds < 1 || s3.redirectTtlSeconds > MAX_PRESIGNED_SECONDS)
    throw new ConfigError(
      `storage.s3.redirectTtlSeconds must be a whole number from 1 to ${MAX_PRESIGNED_SECONDS} (7 days), got ${s3.redirectTtlSeconds}`,
    );
}

/** The settings `meta.driver` `postgres` needs: one way to the database, a pool of at least one connection. */
function checkPostgres(postgres: PostgresMetaConfig): void {
  if ((postgres.url === '') === (postgres.urlFile === ''))
    throw new ConfigError('meta.driver postgres needs meta.postgres.url or meta.postgres.urlFile (one of the two)');
  if (postgres.url) checkPostgresUrl(postgres.url, 'meta.postgres.url');
  if (!Number.isInteger(postgres.poolSize) || postgres.poolSize < 1)
    throw new ConfigError(`meta.postgres.poolSize must be a whole number of at least 1, got ${postgres.poolSize}`);
}

/** Refuses what is not a PostgreSQL connection string naming a database; the message shows no password. */
export function checkPostgresUrl(url: string, setting: string): void {
  if (!/^postgres(ql)?:\/\/[^/\s]*\/[^/?#\s]+(\?\S*)?$/.test(url))
    throw new ConfigError(
      `${setting} must be postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE, got ${JSON.stringify(withoutPassword(url))}`,
    );
}

/** A connection string with its password, if any, shown as `***`: what may be printed or logged. */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@?\s]*):[^?\s]*@/i, '$1:***@');
}

/** The config as `--print-config` shows it: a password in `meta.postgres.url` hidden. */
export function printableConfig(config: Config): Config {
  const shown = structuredClone(config);
  shown.meta.postgres.url = withoutPassword(shown.meta.postgres.url);
  return shown;
}

/** Whether `url` is a plain http(s) origin (`publicUrl`'s form): scheme, host, optional port; no user, path or query. */
export function isOriginUrl(url: string): boolean {
  return /^https?:\/\/[A-Za-z0-9.[\]:-]+\/?$/.test(url);
}

export interface Peer {
  region: string;
  /** HOST:PORT of the peer's replication service. */
  address: string;
}

/** `eu=10.0.0.1:6000,us=10.0.0.2:6000` → peers; an empty string → none. */
export function parsePeers(spec: string): Peer[] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((part) => {
    const m = /^\s*([^=\s]+)=(\S+)\s*$/.exec(part);
    if (!m || !isRegionId(m[1] ?? '')) throw new ConfigError(`replication.peers: expected region=HOST:PORT, got ${JSON.stringify(part)}`);
    parseListen(m[2] ?? '');
    return { region: m[1] as string, address: m[2] as string };
  });
}

/** Split `HOST:PORT` (IPv6 as `[::1]:5000`). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(`listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: (m[1] ?? m[2]) as string, port };
}
