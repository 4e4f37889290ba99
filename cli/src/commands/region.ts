import { apiPaths } from 'georeg/oci';
import { CliError, DEFAULT_NODE_URL, parseOptions, type Command } from '../command.js';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';

const USAGE = `Usage: georeg region show NAME [--url URL]
       georeg region drain NAME [--reason TEXT] [--url URL]
       georeg region undrain NAME [--url URL]

Takes region NAME out of routing for maintenance, or back in. A drained region
still serves the clients that reach it and keeps replicating; its peers learn
it from their next health probe (within replication.failoverSeconds, 10 s by
default) and send no client there: no blob
redirect, and clients placed in it (network.placement) are served where they
ask. The drain survives a restart of the node. --url is NAME's own node (the
command checks that it is NAME); the default is ${DEFAULT_NODE_URL}.
Draining needs an administrator's credentials: georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD).
${API_HELP}
`;

interface Routing {
  region: string;
  drained: boolean;
  at: string;
  reason?: string;
}

export const regionCommand: Command = {
  name: 'region',
  summary: 'take a region out of routing for maintenance (drain, undrain) or show whether it is',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      url: { type: 'string', default: DEFAULT_NODE_URL },
      reason: { type: 'string' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const [action, name] = positionals;
    if (positionals.length !== 2 || !['show', 'drain', 'undrain'].includes(action as string))
      throw new CliError(`expected \`region show|drain|undrain NAME\`\n\n${USAGE}`);
    if (values.reason !== undefined && action !== 'drain') throw new CliError('--reason goes with `region drain`');
    const client = await registryClient(values.url, { caFile: values.ca, timeoutMs: timeoutMs(values.timeout) });
    const here = await client.api<Routing>('GET', apiPaths.routing());
    if (here.region !== name)
      throw new CliError(
        `${values.url} is region ${here.region}, not ${name}: give ${name}'s own node with --url (each region is drained at itself)`,
      );
    const routing =
      action === 'show'
        ? here
        : await client.api<Routing>('PUT', apiPaths.routing(), {
            drained: action === 'drain',
            ...(values.reason && { reason: values.reason }),
          });
    process.stdout.write(`${describe(routing)}\n`);
    return 0;
  },
};

function describe(r: Routing): string {
  if (!r.drained) return `region ${r.region} is in routing${r.at ? ` (since ${r.at})` : ''}`;
  return `region ${r.region} is drained since ${r.at}${r.reason ? `: ${r.reason}` : ''}; its peers send no client there`;
}
