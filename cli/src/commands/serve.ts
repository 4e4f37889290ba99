import { createLogger, loadConfig, startNode, envName, defaultConfig } from 'georeg/nodes';
import { configOptions, configOverrides, parseOptions, type Command } from '../command.js';

const help = `Usage: georeg serve [--listen HOST:PORT] [--data DIR] [--config FILE] [--print-config]

Runs a registry node: the OCI Distribution API v1.1 over HTTP.

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
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
      return 0;
    }
    const log = createLogger({ level: config.log.level });
    const node = await startNode(config, log);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info('shutting down', { signal });
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await node.close();
    return 0;
  },
};
