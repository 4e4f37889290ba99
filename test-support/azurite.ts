/**
 * Azurite, the official Azure Storage emulator (npm `azurite`), as a real blob service for tests:
 * its blob service alone, on a port of its choosing (`--blobPort 0`, read from the line it prints
 * once listening), with its data in a fresh temp directory that `stop()` removes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
  const dir = await mkdtemp(join(tmpdir(), 'georeg-azurite-'));
  const main = join(dirname(createRequire(import.meta.url).resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const args = ['--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--silent', '--skipApiVersionCheck', '--loose'];
  const child = spawn(process.execPath, [main, ...args, '--disableTelemetry'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let origin: string;
  try {
    origin = await new Promise<string>((resolve, reject) => {
      const seen = (chunk: string): void => {
        output += chunk;
        const m = LISTENING.exec(output);
        if (m) resolve(m[1] as string);
      };
      child.stdout?.setEncoding('utf8').on('data', seen);
      child.stderr?.setEncoding('utf8').on('data', seen);
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`azurite exited with ${code ?? signal} before listening:\n${output}`)));
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const url = `${origin}/${AZURITE_ACCOUNT}`;
  return {
    url,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url};`,
    stop: async () => {
      await stopped(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
