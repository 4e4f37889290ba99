import { ConfigError, parseListen } from 'georeg/nodes';
import { CliError, parseOptions, type Command } from '../command.js';
import { startFront } from '../front.js';

const help = `Usage: georeg front --listen HOST:PORT --node HOST:PORT [--node HOST:PORT ...]

Runs a small round-robin front for several nodes of one region (what a load
balancer or an ingress does in production): each request goes to the next
node, streamed both ways, with the client's Host kept and X-Forwarded-For and
X-Forwarded-Proto added. A node that refuses a connection (or whose name does
not resolve: a stopped container) is left out until it
takes one again (probed every 0.5 s), and a request without a body goes on to
the next node at once (as one does that a kept-alive connection lost
unanswered: its node died, and a GET or HEAD any connection lost unanswered);
a request with
a body is not replayed: its client gets 503 UNAVAILABLE (Retry-After: 1) and
retries. The nodes must share their storage and metadata (storage.driver
azure or s3, meta.driver postgres): any node then continues any upload.

Options:
  --listen HOST:PORT   where clients connect (default 127.0.0.1:5000)
  --node HOST:PORT     a node of the region (repeat for each)
  -h, --help           this text`;

export const frontCommand: Command = {
  name: 'front',
  summary: 'a round-robin front for several nodes of one region',
  async run(argv) {
    const { values } = parseOptions(argv, {
      help: { type: 'boolean', short: 'h' },
      listen: { type: 'string', default: '127.0.0.1:5000' },
      node: { type: 'string', multiple: true },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    if (!values.node?.length) throw new CliError('no --node given: name each node of the region as --node HOST:PORT');
    let listen: { host: string; port: number };
    let nodes: { host: string; port: number }[];
    try {
      listen = parseListen(values.listen);
      nodes = values.node.map((n) => parseListen(n));
    } catch (e) {
      if (e instanceof ConfigError) throw new CliError(e.message.replace(/^listen/, '--listen and --node'));
      throw e;
    }
    const front = await startFront(listen, nodes);
    process.stderr.write(`${JSON.stringify({ msg: 'front listening', url: front.url, nodes: values.node })}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await front.close();
    return 0;
  },
};
