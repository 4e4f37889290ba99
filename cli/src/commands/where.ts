import { apiPaths } from 'georeg/oci';
import type { ClientRoute, RegionLocation } from 'georeg/nodes';
import { isIP } from 'node:net';
import { CliError, DEFAULT_NODE_URL, parseOptions, type Command } from '../command.js';
import { getJson, table } from './status.js';
import { apiOptions, API_HELP, timeoutMs } from '../connect.js';

const USAGE = `Usage: georeg where NAME:TAG|NAME@DIGEST [--url URL] [--json] [--timeout SECONDS]
       georeg where --client ADDRESS [--url URL] [--json] [--timeout SECONDS]

With an image: asks the node at URL (default ${DEFAULT_NODE_URL}) which regions hold it:
complete, incomplete (replicating), absent or unreachable; exit status 1 when none holds it
completely.
With --client: which region the node at URL sends the blob pulls of a client at ADDRESS to,
by its client placement (network.placement) and the health and drain of that region.
It asks every region at once.
${API_HELP}
A node with authentication on wants credentials that may pull the image: georeg login (or
GEOREG_USERNAME and GEOREG_PASSWORD).
`;

export const whereCommand: Command = {
  name: 'where',
  summary: 'which regions hold an image (NAME:TAG | NAME@DIGEST), or where a client address is sent (--client)',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      url: { type: 'string' },
      client: { type: 'string' },
      ...apiOptions,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (values.client !== undefined) {
      if (positionals.length) throw new CliError('give either an image or --client ADDRESS, not both');
      if (!isIP(values.client)) throw new CliError(`--client must be an IPv4 or IPv6 address, got ${JSON.stringify(values.client)}`);
      const res = await getJson<{ client: ClientRoute }>(values.url, `${apiPaths.routing()}?client=${encodeURIComponent(values.client)}`, {
        ms: timeoutMs(values.timeout),
        ca: values.ca,
      });
      process.stdout.write(values.json ? JSON.stringify(res.client, null, 2) + '\n' : `${describeRoute(res.client)}\n`);
      return 0;
    }
    const ref = positionals[0];
    const m = ref ? /^(.+?)(?:@([a-z0-9]+:[a-f0-9]+)|:([A-Za-z0-9_][A-Za-z0-9._-]*))$/.exec(ref) : null;
    if (!ref || !m || positionals.length > 1)
      throw new CliError(`give an image as NAME:TAG or NAME@DIGEST, or --client ADDRESS\n\n${USAGE}`);
    const name = m[1] as string;
    const reference = (m[2] ?? m[3]) as string;
    const res = await getJson<{ regions: RegionLocation[] }>(values.url, apiPaths.where(name, reference), {
      ms: timeoutMs(values.timeout),
      ca: values.ca,
    });
    process.stdout.write(values.json ? JSON.stringify(res, null, 2) + '\n' : formatWhere(ref, res.regions));
    return res.regions.some((r) => r.state === 'complete') ? 0 : 1;
  },
};

export function formatWhere(ref: string, regions: RegionLocation[]): string {
  return (
    `${ref}\n` +
    table([
      ['REGION', 'STATE', 'DIGEST', 'DETAIL'],
      ...regions.map((r) => [
        r.region,
        r.state,
        r.digest ?? '',
        r.error ?? (r.missing?.length ? `missing ${r.missing.length}: ${r.missing.slice(0, 3).join(' ')}` : ''),
      ]),
    ])
  );
}

/** One sentence: where the node sends a client's blob pulls, and why. */
export function describeRoute(r: ClientRoute): string {
  const placed = `${r.address} is placed in ${r.placedIn ?? '?'} (${r.rule ?? '?'})`;
  switch (r.reason) {
    case 'off':
      return `${r.region} redirects no blob pull (replication.redirect=false): it serves ${r.address} itself`;
    case 'unplaced':
      return `${r.address} is in no placement block (network.placement) of ${r.region}: it is served by the region it asks`;
    case 'local':
      return `${placed}: ${r.region} serves it itself`;
    case 'placement':
      return `${placed}: ${r.region} sends its blob pulls to ${r.sentTo} (for every blob ${r.sentTo} holds)`;
    case 'down':
      return `${placed}, which does not answer its health probes: ${r.region} serves it itself until ${r.placedIn ?? '?'} is back`;
    case 'drained':
      return `${placed}, which is drained: ${r.region} serves it itself until ${r.placedIn ?? '?'} is undrained`;
  }
}
