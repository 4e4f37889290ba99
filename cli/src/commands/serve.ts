import {
  createLogger,
  loadConfig,
  startNode,
  envName,
  defaultConfig,
  parseListen,
  parsePeers,
  printableConfig,
  type Config,
  type Logger,
  type RunningNode,
} from 'georeg/nodes';
import {
  startReplicationServer,
  replicationCredentials,
  LocalRegionStore,
  ReportedReplication,
  startRegionStoreServer,
} from 'georeg/replication';
import { regionStoreSocket, replicatorFor } from '../replication-setup.js';
import { configOptions, configOverrides, parseOptions, type Command } from '../command.js';

const help = `Usage: georeg serve [--listen HOST:PORT] [--data DIR] [--config FILE] [--print-config]

Runs a registry node: the OCI Distribution API v1.1 over HTTP. With
replication.listen set it also serves its content to peer regions over gRPC,
and with replication.peers (and nats.url) it copies their pushes into this one:
in this process, or with replication.external=true through \`georeg replicate\`
(a separate process that writes through DATA/replication/store.sock).
Metadata is in LevelDB under DATA, or with meta.driver=postgres in a PostgreSQL
database that several nodes can share (meta.postgres.url, or meta.postgres.urlFile
to keep a password out of the config).

Options:
  --listen HOST:PORT   address to serve on (default ${defaultConfig.listen})
  --data DIR           blobs, metadata and uploads (default ${defaultConfig.data})
  --config FILE        a JSON config file (see README "Configuration")
  --print-config       print the effective configuration as JSON and exit
  -h, --help           this text

Every setting can also come from the environment: e.g. ${envName('log.access')}=false,
${envName('gc.intervalSeconds')}=3600. Precedence: defaults < file < environment < flags.`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run a registry node',
  async run(argv) {
    const { values } = parseOptions(argv, { ...configOptions, 'print-config': { type: 'boolean' } });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    const config = loadConfig({ file: values.config, env: process.env, overrides: configOverrides(values) });
    if (values['print-config']) {
      process.stdout.write(JSON.stringify(printableConfig(config), null, 2) + '\n');
      return 0;
    }
    const log = createLogger({ level: config.log.level });
    let node;
    try {
      node = await startNode(config, log);
    } catch (e) {
      const problem = startProblem(e, config.listen, config.data);
      if (!problem) throw e;
      process.stderr.write(`georeg serve: ${problem}\n`);
      return 1;
    }
    let stopReplication;
    try {
      stopReplication = await startReplication(config, node, log);
    } catch (e) {
      // e.g. half a TLS configuration: the node must not go on serving without the replication asked for.
      await node.close();
      throw e;
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info('shutting down', { signal });
        // Whatever hangs (a peer that stopped answering mid-copy), the process still ends.
        setTimeout(() => {
          log.error('shutdown took longer than 8 s; exiting', { signal });
          process.exit(1);
        }, 8000).unref();
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await stopReplication();
    await node.close();
    return 0;
  },
};

/**
 * The replication a config asks for: the service peers copy from, and either a
 * replicator in this process or, with replication.external, the region store
 * a separate `georeg replicate` process writes through. Returns the stop function.
 */
async function startReplication(config: Config, node: RunningNode, log: Logger): Promise<() => Promise<void>> {
  const tls = replicationCredentials(config);
  const server = config.replication.listen
    ? await startReplicationServer(node.registry, parseListen(config.replication.listen), {
        region: config.region,
        publicUrl: config.publicUrl,
        log,
        status: () => node.status.snapshot(),
        drained: () => node.status.drain.drained,
        credentials: tls.server,
      })
    : undefined;
  const peers = parsePeers(config.replication.peers);
  const local = new LocalRegionStore(node.registry, node.clock);
  if (config.replication.external) {
    const reported = new ReportedReplication(peers, local, tls.client);
    const store = await startRegionStoreServer(local, regionStoreSocket(config), log, (r) => reported.report(r));
    node.status.replication = reported;
    return async () => {
      await store.close();
      reported.close();
      await server?.close();
    };
  }
  const replicator = peers.length ? replicatorFor(config, local, log) : undefined;
  await replicator?.start();
  if (replicator) node.status.replication = replicator;
  return async () => {
    await replicator?.stop();
    await server?.close();
  };
}

/** A one-line explanation of an expected start failure (address taken, data directory in use), or undefined. */
function startProblem(e: unknown, listen: string, data: string): string | undefined {
  const err = e as NodeJS.ErrnoException & { cause?: { code?: string; message?: string } };
  if (err?.syscall === 'listen') {
    const reason =
      err.code === 'EADDRINUSE'
        ? 'address already in use'
        : err.code === 'EACCES'
          ? 'permission denied'
          : err.code === 'EADDRNOTAVAIL'
            ? 'address not available'
            : err.message;
    return `cannot listen on ${listen}: ${reason}${err.code ? ` (${err.code})` : ''}`;
  }
  if (err?.code === 'LEVEL_DATABASE_NOT_OPEN') {
    if (err.cause?.code === 'LEVEL_LOCKED') return `cannot open ${data}: the data directory is in use by another georeg process`;
    return `cannot open the metadata store in ${data}: ${err.cause?.message ?? err.message}`;
  }
  return undefined;
}
