import { apiPaths } from 'georeg/oci';
import { CliError, parseOptions, stdinLine, type Command } from '../command.js';
import { removeLogin, storeFile, storeLogin } from '../auth-file.js';
import { parseRegistry } from '../registry-client.js';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';

const LOGIN_USAGE = `Usage: georeg login REGISTRY --username NAME --password-stdin [--ca FILE] [--timeout SECONDS]

Checks the credentials against REGISTRY (HOST[:PORT], HTTPS unless the host is loopback, or
http(s)://HOST[:PORT]) and stores them where container tools look: ${storeFile()}
(Docker's config, which skopeo and podman read too), or REGISTRY_AUTH_FILE when set. Every
georeg command that talks to that registry then uses them. The password (or a token's secret)
comes on standard input, never as a flag: flags end up in shell history.
  echo "$PASSWORD" | georeg login 127.0.0.1:7000 --username admin --password-stdin
${API_HELP}
`;

const LOGOUT_USAGE = `Usage: georeg logout REGISTRY

Removes the login stored for REGISTRY (HOST[:PORT] or http(s)://HOST[:PORT]) from every file
container tools read logins from.
`;

export const loginCommand: Command = {
  name: 'login',
  summary: 'log in to a registry: checks the credentials and stores them where docker, podman and skopeo look',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      username: { type: 'string', short: 'u' },
      'password-stdin': { type: 'boolean' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(LOGIN_USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`give one registry\n\n${LOGIN_USAGE}`);
    if (!values.username) throw new CliError('give the user or token name with --username');
    if (!values['password-stdin']) throw new CliError('give the password on standard input with --password-stdin');
    const { base, host, httpFallback } = parseRegistry(positionals[0] as string);
    const password = await stdinLine();
    if (!password) throw new CliError('the password on standard input is empty');
    const credentials = { username: values.username, password };
    await (
      await registryClient(base, { credentials, caFile: values.ca, timeoutMs: timeoutMs(values.timeout), httpFallback })
    ).api('GET', apiPaths.base());
    const { file, note } = await storeLogin(host, credentials);
    process.stdout.write(`logged in to ${host} as ${values.username} (stored in ${file})\n${note ? `note: ${note}\n` : ''}`);
    return 0;
  },
};

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'remove the login stored for a registry',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      process.stdout.write(LOGOUT_USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`give one registry\n\n${LOGOUT_USAGE}`);
    const { host } = parseRegistry(positionals[0] as string);
    const files = await removeLogin(host);
    process.stdout.write(files.length ? `logged out of ${host} (removed from ${files.join(', ')})\n` : `no login stored for ${host}\n`);
    return 0;
  },
};
