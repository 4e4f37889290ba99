import { apiPaths } from 'georeg/oci';
import type { EventStreamState, NodeStatusSnapshot } from 'georeg/nodes';
import { CliError, DEFAULT_NODE_URL, parseOptions, type Command } from '../command.js';
import { RegistryError } from '../registry-client.js';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';

/** A document of the node at `url`; a refusal, no answer or none within `ms` is a CliError (exit 2), as these commands have always reported it. */
export async function getJson<T>(
  url: string | undefined,
  path: string,
  { ms = 10_000, ca }: { ms?: number; ca?: string } = {},
): Promise<T> {
  const base = url ?? DEFAULT_NODE_URL;
  try {
    return await (await registryClient(base, { timeoutMs: ms, caFile: ca })).api<T>('GET', path);
  } catch (e) {
    throw e instanceof RegistryError ? new CliError(e.message) : e;
  }
}

/** Bytes in binary units: `429 MiB`. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** A duration in its largest sensible unit: `45s`, `12m`, `3.2h`, `6.9d`. */
export function humanAge(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
}

/** This region's event stream in a few words: `stream 12 events, 3.1 KiB, oldest 5m old`. */
function formatStream(stream: EventStreamState, now: number): string {
  const oldest = stream.oldest ? `, oldest ${humanAge(Math.max(0, now - Date.parse(stream.oldest)) / 1000)} old` : '';
  return `stream ${stream.messages} events, ${humanBytes(stream.bytes)}${oldest}${stream.error ? `, error: ${stream.error}` : ''}`;
}

/** Rows as aligned columns, the first row a header. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function formatStatus(s: NodeStatusSnapshot, now = Date.now()): string {
  // A node of a release before the stream's numbers answers without `stream`.
  const stream = s.stream ? `; ${formatStream(s.stream, now)}` : '';
  const head = `region ${s.region}${s.drained ? ' (drained: peers send no client here)' : ''}; outbox ${s.outbox ? `${s.outbox.depth} waiting, ${s.outbox.published} published${s.outbox.lastError ? `, error: ${s.outbox.lastError}` : ''}` : 'off (no nats.url)'}${stream}\n`;
  if (s.peers.length === 0) return head + 'no peer regions replicated into this one\n';
  return head + peerTable(s) + (s.regions ? formatRegions(s.region, s.regions) : '');
}

/**
 * The other regions' own views (`--all`): what flows into each of them from each region, and for
 * a region that cannot be asked, how many of this region's events it has not applied.
 */
function formatRegions(here: string, regions: NonNullable<NodeStatusSnapshot['regions']>): string {
  const rows = [['INTO', 'FROM', 'HEALTH', 'LAG', 'PENDING', 'DETAIL']];
  for (const v of regions) {
    if (v.error !== undefined || !v.peers) {
      const missed = v.pendingFromHere === undefined ? '' : `; ${v.pendingFromHere} events of ${here} not applied there`;
      rows.push([v.region, '-', 'UNREACHABLE', '-', '-', `${v.error ?? 'no answer'}${missed}`]);
      continue;
    }
    for (const p of v.peers) {
      rows.push([
        v.region,
        p.region,
        !p.up ? 'DOWN' : p.lastError ? 'degraded' : 'ok',
        `${p.lagSeconds.toFixed(1)}s`,
        String(p.pendingEvents),
        p.lastError ?? '',
      ]);
    }
  }
  return `\nevery region's own view (into each region, from each):\n${table(rows)}`;
}

function peerTable(s: NodeStatusSnapshot): string {
  return table([
    ['FROM', 'HEALTH', 'RTT', 'LAG', 'PENDING', 'IN FLIGHT', 'APPLIED', 'REPAIRS', 'FAILURES', 'SET ASIDE', 'LAST ERROR'],
    ...s.peers.map((p) => [
      p.region,
      (!p.up ? 'DOWN' : p.lastError ? 'degraded' : 'ok') + (p.drained ? ', drained' : ''),
      p.rttMs === undefined ? '-' : `${p.rttMs.toFixed(1)}ms`,
      `${p.lagSeconds.toFixed(1)}s`,
      String(p.pendingEvents),
      humanBytes(p.bytesInFlight),
      String(p.applied),
      String(p.repairs),
      String(p.failures),
      String(p.parked),
      p.lastError ?? '',
    ]),
  ]);
}

/**
 * Redraw `render()` every `ms` until SIGINT or SIGTERM (exit status 0). On a
 * terminal the screen is cleared first; a failed refresh shows its error and
 * the next one tries again.
 */
async function watch(render: () => Promise<string>, ms: number): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (;;) {
      let body: string;
      try {
        body = await render();
      } catch (e) {
        body = `${(e as Error).message}\n`;
      }
      process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}${new Date().toISOString()}\n${body}${tty ? '' : '\n'}`);
      let timer!: NodeJS.Timeout;
      const next = new Promise<'next'>((resolve) => (timer = setTimeout(() => resolve('next'), ms)));
      const why = await Promise.race([next, stopped.then(() => 'stop' as const)]);
      clearTimeout(timer);
      if (why === 'stop') return 0;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: "a region's replication status: outbox, event stream, and per peer lag, pending events, errors",
  async run(argv) {
    const { values } = parseOptions(argv, {
      url: { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      watch: { type: 'boolean' },
      interval: { type: 'string' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(
        `Usage: georeg status [--url URL] [--all] [--json] [--watch [--interval SECONDS]] [--timeout SECONDS]\n\nAsks the node at URL (default ${DEFAULT_NODE_URL}) for GET /georeg/v1/replication.\n` +
          `--all adds every other region's own view, asked by that node (a region that cannot be asked shows how many of this region's events it has not applied).\n` +
          `--watch redraws the table every --interval seconds (default 2) until interrupted.\n${API_HELP}\n`,
      );
      return 0;
    }
    const ms = timeoutMs(values.timeout);
    const render = async (): Promise<string> => {
      const s = await getJson<NodeStatusSnapshot>(values.url, `${apiPaths.replication()}${values.all ? '?all=true' : ''}`, {
        ms,
        ca: values.ca,
      });
      return values.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s);
    };
    if (!values.watch) {
      process.stdout.write(await render());
      return 0;
    }
    const interval = Number(values.interval ?? 2);
    if (!(interval >= 0.1 && interval <= 3600)) throw new CliError('--interval must be between 0.1 and 3600 seconds');
    return watch(render, interval * 1000);
  },
};
