import { serveCommand } from './commands/serve.js';
import { replicateCommand } from './commands/replicate.js';
import { gcCommand } from './commands/gc.js';
import { statusCommand } from './commands/status.js';
import { whereCommand } from './commands/where.js';
import { clusterCommand } from './commands/cluster.js';
import { pushCommand } from './commands/push.js';
import { keyCommand } from './commands/key.js';
import { signCommand } from './commands/sign.js';
import { verifyCommand } from './commands/verify.js';
import { policyCommand } from './commands/policy.js';
import { regionCommand } from './commands/region.js';
import { certsCommand } from './commands/certs.js';
import { tokenCommand, userCommand } from './commands/identities.js';
import { loginCommand, logoutCommand } from './commands/login.js';
import { lockCommand, unlockCommand } from './commands/lock.js';
import { showCommand } from './commands/show.js';
import { frontCommand } from './commands/front.js';
import { CliError, closest, type Command } from './command.js';
import { RegistryError } from './registry-error.js';

const commands: Command[] = [
  serveCommand,
  replicateCommand,
  frontCommand,
  gcCommand,
  statusCommand,
  whereCommand,
  clusterCommand,
  pushCommand,
  keyCommand,
  signCommand,
  verifyCommand,
  showCommand,
  lockCommand,
  unlockCommand,
  policyCommand,
  regionCommand,
  certsCommand,
  userCommand,
  tokenCommand,
  loginCommand,
  logoutCommand,
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'georeg: a geo-replicated OCI container registry',
    '',
    'Usage: georeg <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `georeg <command> --help` for a command's options.",
  ].join('\n');
}

/** Runs one command line; returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    const near = closest(
      name,
      commands.map((c) => c.name),
    );
    process.stderr.write(`georeg: unknown command ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`georeg ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Error && e.name === 'ConfigError') {
      process.stderr.write(`georeg ${name}: ${e.message}\n`);
      return 2;
    }
    // The registry refused, or could not be reached: its message, exit status 1.
    if (e instanceof RegistryError) {
      process.stderr.write(`georeg ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
