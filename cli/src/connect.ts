import { readFile } from 'node:fs/promises';
import { CliError } from './command.js';
import { credentialsFor, type Credentials } from './credentials.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';

/** `--ca FILE`, for every command that talks to a registry. */
export const caOption = { ca: { type: 'string' } } as const;

/** What --ca does, for the commands' help. */
export const CA_HELP = "--ca FILE trusts that CA (PEM) for HTTPS besides the system's (NODE_EXTRA_CA_CERTS does too).";

/** `--ca FILE` and `--timeout SECONDS`, for the commands that ask a node's API (no transfers). */
export const apiOptions = { ...caOption, timeout: { type: 'string' } } as const;

/** What --ca and --timeout do, for those commands' help. */
export const API_HELP = `${CA_HELP}\n--timeout SECONDS: how long to wait for the node's answer (default 10).`;

/** The --timeout given, in ms (default 10 s); a bad value is a usage error. */
export function timeoutMs(value: string | undefined): number {
  const seconds = Number(value ?? 10);
  if (!(seconds > 0 && seconds <= 3600))
    throw new CliError(`--timeout must be a number of seconds between 0 and 3600, got ${JSON.stringify(value)}`);
  return seconds * 1000;
}

/** The client the commands use for the registry at `base`: its credentials (credentials.ts) unless given, and the CA of --ca. */
export async function registryClient(
  base: string,
  options: Omit<RegistryClientOptions, 'ca' | 'credentials'> & { caFile?: string; credentials?: Credentials } = {},
): Promise<RegistryClient> {
  const { caFile, credentials, ...rest } = options;
  const ca =
    caFile === undefined
      ? undefined
      : await readFile(caFile).catch((e: Error) => {
          throw new CliError(`cannot read the CA file ${caFile}: ${e.message}`);
        });
  return new RegistryClient(base, { ...rest, credentials: credentials ?? (await credentialsFor(base)), ...(ca && { ca }) });
}
