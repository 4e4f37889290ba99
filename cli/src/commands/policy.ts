import { apiPaths } from 'georeg/oci';
import { readPolicyFile } from 'georeg/nodes';
import { CliError, DEFAULT_NODE_URL, parseOptions, type Command } from '../command.js';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';

const USAGE = `Usage: georeg policy show [--url URL]
       georeg policy apply FILE [--url URL]

Shows or replaces the registry's trust policy document (JSON: identity, keys,
policies). A key may give its PEM as "publicKeyFile": "ci.pub" (a path
relative to FILE) instead of "publicKey"; the file's contents are sent. Each
change is a new version that replicates to every region.
The default URL is ${DEFAULT_NODE_URL}. A node with authentication on wants
credentials (an administrator's to apply): georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD).
${API_HELP}
`;

export const policyCommand: Command = {
  name: 'policy',
  summary: "show or replace the registry's trust policy document",
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      url: { type: 'string', default: DEFAULT_NODE_URL },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const [action, file] = positionals;
    if (!((action === 'show' && positionals.length === 1) || (action === 'apply' && positionals.length === 2)))
      throw new CliError(`expected \`policy show\` or \`policy apply FILE\`\n\n${USAGE}`);
    let body: string | undefined;
    if (action === 'apply')
      body = await readPolicyFile(file as string).catch((e: Error) => {
        throw new CliError(e.message);
      });
    // A refusal or no answer is a RegistryError: exit 1 with its message.
    const client = await registryClient(values.url, { caFile: values.ca, timeoutMs: timeoutMs(values.timeout) });
    const { version, document } = await client.api<{ version: string; document: unknown }>(
      body === undefined ? 'GET' : 'PUT',
      apiPaths.trustPolicy(),
      body,
    );
    process.stdout.write(
      action === 'apply' ? `applied version ${version}\n` : `version ${version}\n${JSON.stringify(document, null, 2)}\n`,
    );
    return 0;
  },
};
