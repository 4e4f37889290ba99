import { readFile } from 'node:fs/promises';
import { CliError } from './command.js';
import { credentialsFor, type Credentials } from './credentials.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';

/** `--ca FILE`, for every command that talks to a registry. */
export const caOption = { ca: { type: 'string' } } as const;

/** What --ca does, for the commands' help. */
export const CA_HELP = "--ca FILE trusts that CA (PEM) for HTTPS besides the system's (NODE_EXTRA_CA_CERTS does too).";

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
