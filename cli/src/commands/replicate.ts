import { stat } from 'node:fs/promises';
import { createLogger, loadConfig, parsePeers } from 'georeg/nodes';
import { RemoteRegionStore } from 'georeg/replication';
import { CliError, configOptions, configOverrides, parseOptions, type Command } from '../command.js';
import { regionStoreSocket, replicatorFor } from '../replication-setup.js';

const help = `Usage: georeg replicate [--data DIR] [--config FILE]

Runs replication into one region as its own process, beside the region's node
(georeg serve with replication.external=true on the same data directory). Per
peer region in replication.peers it keeps a durable JetStream consumer of that
region's events (nats.url), fetches what is missing from the peer over gRPC
(mutual TLS with replication.tlsCa/tlsCert/tlsKey), and writes it through the
node's storage, which the node serves on DIR/replication/store.sock: staged, verified
and committed by the node. It reports its status to the node every second
(GET /georeg/v1/replication, metrics). Stopping or killing it loses nothing:
events are acknowledged only once their content is committed, and an
interrupted blob copy resumes where it stopped.

Reads the same configuration as \`georeg serve\` (file, GEOREG_* environment).

Options:
  --data DIR      the node's data directory (default ./data)
  --config FILE   a JSON config file
  -h, --help      this text`;

/** How often the replicator tells the node its status. */
const REPORT_MS = 1000;

export const replicateCommand: Command = {
  name: 'replicate',
  summary: "copy peer regions' pushes into this region, as a process beside its node",
  async run(argv) {
    const { values } = parseOptions(argv, configOptions);
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    const config = loadConfig({ file: values.config, env: process.env, overrides: configOverrides(values) });
    if (parsePeers(config.replication.peers).length === 0)
      throw new CliError('replication.peers is empty: there is no region to replicate from');
    if (!config.nats.url) throw new CliError('nats.url is empty: events come through NATS');
    const log = createLogger({ level: config.log.level });
    const socket = regionStoreSocket(config);
    if (!(await stat(socket).catch(() => undefined))) {
      log.warn('the node does not serve its region store yet; copies wait for it (is replication.external on?)', { socket });
    }
    const store = new RemoteRegionStore(socket);
    const replicator = replicatorFor(config, store, log);
    await replicator.start();
    let reportFailing = false;
    const reporter = setInterval(() => {
      replicator
        .peers()
        .then((peers) => store.report(peers))
        .then(
          () => (reportFailing = false),
          (err: unknown) => {
            if (!reportFailing) log.warn('cannot report status to the node; retrying', { err: (err as Error).message });
            reportFailing = true;
          },
        );
    }, REPORT_MS);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    log.info('shutting down', { signal });
    setTimeout(() => {
      log.error('shutdown took longer than 8 s; exiting', { signal });
      process.exit(1);
    }, 8000).unref();
    clearInterval(reporter);
    await replicator.stop();
    store.close();
    return 0;
  },
};
