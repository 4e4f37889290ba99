/**
 * Azurite, the official Azure Storage emulator (npm `azurite`), as a real blob service for tests:
 * its blob service alone, on a port of its choosing (`--blobPort 0`, read from the line it prints
 * once listening), with its data in a fresh temp directory that `stop()` removes.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startChildServer } from './child-server.js';

/** The emulator's one account and its well-known key (published in Azurite's README; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** The account's blob service URL, e.g. http://127.0.0.1:41234/devstoreaccount1 */
  url: string;
  /** A connection string for the account. */
  connectionString: string;
  /** Stop the emulator and remove its data. */
  stop(): Promise<void>;
}

const LISTENING = /successfully listens on (http:\/\/[^\s]+)/;

/** Start Azurite's blob service on 127.0.0.1, port 0; resolves once it listens. Rejects, with its output, if it exits first. */
export async function startAzurite(): Promise<Azurite> {
  const main = join(dirname(createRequire(import.meta.url).resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const args = (dir: string): string[] => [
    main,
    ...[
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      dir,
      '--silent',
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
    ],
  ];
  const { match, stop } = await startChildServer('azurite', args, LISTENING);
  const url = `${match[1] as string}/${AZURITE_ACCOUNT}`;
  return {
    url,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url};`,
    stop,
  };
}
