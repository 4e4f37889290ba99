import { apiPaths, queryString } from 'georeg/oci';
import { createLogger, loadConfig, openRegistry, collectGarbage, gcOptions, parseListen, type GcReport } from 'georeg/nodes';
import { CliError, configOptions, configOverrides, parseOptions, type Command } from '../command.js';
import { RegistryError } from '../registry-client.js';
import { caOption, CA_HELP, registryClient, timeoutMs } from '../connect.js';
import { humanBytes } from './status.js';

/** A collection takes its time (75 s at 100,000 repositories): how long gc waits for the node by default. */
const DEFAULT_TIMEOUT_SECONDS = '600';

const help = `Usage: georeg gc [--dry-run] [--data DIR] [--config FILE] [--url URL] [--json] [--timeout SECONDS]

Removes blobs no manifest references (older than gc.graceSeconds, default 1 h),
their stale repository links, and expired upload sessions. Reports what it finds
broken (a tag without its manifest, a manifest whose blobs are gone...).

When a node is running on the data directory, gc asks that node to do the work
(its metadata store has one writer), at --url or the configured listen address.

Options:
  --dry-run      print what would be deleted and the bytes freed; delete nothing
  --url URL      the running node's base URL
  --json         print the report as JSON
  --timeout SECONDS  how long to wait for the node's report (default ${DEFAULT_TIMEOUT_SECONDS}: a
                 collection reads every repository)
  --data, --config, --listen   as for \`georeg serve\`

A node with authentication on wants an administrator: georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD).
${CA_HELP}`;

function print(report: GcReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const verb = report.dryRun ? 'would delete' : 'deleted';
  for (const d of report.blobsDeleted) process.stdout.write(`${verb} ${d}\n`);
  process.stdout.write(
    `${verb} ${report.blobsDeleted.length} blobs, ${humanBytes(report.bytesFreed)} freed; ` +
      `${report.linksRemoved} stale links, ${report.uploadsRemoved} uploads; ${report.broken.length} broken\n`,
  );
  for (const b of report.broken) process.stdout.write(`broken: ${b.kind} ${b.repository} ${b.digest}${b.detail ? ` (${b.detail})` : ''}\n`);
}

/** The node's gc report; a node that refuses is a RegistryError (exit 1), none answering a usage mistake (exit 2). */
async function viaNode(url: string, dryRun: boolean, ca: string | undefined, ms: number, why = ''): Promise<GcReport> {
  try {
    return await (
      await registryClient(url, { caFile: ca, timeoutMs: ms })
    ).api<GcReport>('POST', `${apiPaths.gc()}${queryString({ dryRun })}`);
  } catch (e) {
    // A node that did not answer in time is there: its own error says so.
    if (!(e instanceof RegistryError && e.status === undefined && e.cause instanceof Error) || e.cause.name === 'TimeoutError') throw e;
    throw new CliError(`${why}no node answers at ${url} (${e.cause.message}); pass --url or --listen`);
  }
}

export const gcCommand: Command = {
  name: 'gc',
  summary: 'garbage-collect unreferenced blobs and stale uploads',
  async run(argv) {
    const { values } = parseOptions(argv, {
      ...configOptions,
      ...caOption,
      'dry-run': { type: 'boolean' },
      url: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string', default: DEFAULT_TIMEOUT_SECONDS },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    const dryRun = values['dry-run'] ?? false;
    const config = loadConfig({ file: values.config, env: process.env, overrides: configOverrides(values) });
    const log = createLogger({ level: 'warn' });
    let report: GcReport;
    if (values.url) {
      report = await viaNode(values.url, dryRun, values.ca, timeoutMs(values.timeout));
    } else {
      let registry;
      try {
        registry = await openRegistry(config);
      } catch (e) {
        if ((e as { code?: string }).code !== 'LEVEL_DATABASE_NOT_OPEN' && (e as { code?: string }).code !== 'LEVEL_LOCKED') throw e;
        const { host, port } = parseListen(config.listen);
        const url = `${config.tls.cert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
        report = await viaNode(url, dryRun, values.ca, timeoutMs(values.timeout), `${config.data} is in use by another process, but `);
        print(report, values.json ?? false);
        return report.broken.length ? 1 : 0;
      }
      try {
        report = await collectGarbage(registry, { ...gcOptions(config), dryRun }, log);
      } finally {
        await registry.close();
      }
    }
    print(report, values.json ?? false);
    return report.broken.length ? 1 : 0;
  },
};
