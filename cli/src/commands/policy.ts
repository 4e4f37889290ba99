import { readPolicyFile } from 'georeg/nodes';
import { CliError, parseOptions, type Command } from '../command.js';

const DEFAULT_URL = 'http://127.0.0.1:5000';
const USAGE = `Usage: georeg policy show [--url URL]
       georeg policy apply FILE [--url URL]

Shows or replaces the registry's trust policy document (JSON: identity, keys,
policies). A key may give its PEM as "publicKeyFile": "ci.pub" (a path
relative to FILE) instead of "publicKey"; the file's contents are sent. Each
change is a new version that replicates to every region.
The default URL is ${DEFAULT_URL}.
`;

export const policyCommand: Command = {
  name: 'policy',
  summary: "show or replace the registry's trust policy document",
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { url: { type: 'string', default: DEFAULT_URL }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const [action, file] = positionals;
    if (!((action === 'show' && positionals.length === 1) || (action === 'apply' && positionals.length === 2))) throw new CliError(`expected \`policy show\` or \`policy apply FILE\`\n\n${USAGE}`);
    let body: string | undefined;
    if (action === 'apply') body = await readPolicyFile(file as string).catch((e: Error) => { throw new CliError(e.message); });
    const url = `${values.url.replace(/\/+$/, '')}/georeg/v1/trust/policy`;
    let res: Response;
    try {
      res = await fetch(url, body === undefined ? {} : { method: 'PUT', body, headers: { 'Content-Type': 'application/json' } });
    } catch (e) {
      process.stderr.write(`georeg policy: cannot reach ${url}: ${(e as Error).message}\n`);
      return 1;
    }
    const text = await res.text();
    if (!res.ok) {
      process.stderr.write(`georeg policy: ${res.status}: ${text.slice(0, 1000)}\n`);
      return 1;
    }
    const { version, document } = JSON.parse(text) as { version: string; document: unknown };
    process.stdout.write(action === 'apply' ? `applied version ${version}\n` : `version ${version}\n${JSON.stringify(document, null, 2)}\n`);
    return 0;
  },
};
