/**
 * The blob storage of `georeg cluster --storage`: the nodes of a region share it. `azure` runs
 * Azurite (the Azure Storage emulator) and `s3` runs s3rver (an S3 API over a directory) once for
 * the cluster, on the port after the last region's, with their data under DATA; each region gets a
 * container (`georeg-<region>`) or a key prefix (`<region>/` in the bucket `georeg`). Both are npm
 * devDependencies of georeg: this is for trying a region of several nodes on one machine. `fs` is
 * the fs driver on one directory per region (`<region>/registry`), every node of the region on it.
 */
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CliError } from '../command.js';
import type { ChildSpec } from './supervisor.js';

export const STORAGE_KINDS = ['fs', 'azure', 's3'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

/** Azurite's one account and its well-known key (published in Azurite's README; not a secret). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** The key pair s3rver accepts (published in its README; not a secret), and the bucket it makes at start. */
const S3RVER_KEY = 'S3RVER';
const S3_BUCKET = 'georeg';

export interface SharedStorage {
  /** The emulator to run before the nodes, and the line it prints once listening; none for fs. */
  emulator?: { spec: ChildSpec; ready: RegExp };
  /** The storage settings of a region's nodes. */
  env(region: string): Record<string, string>;
}

/** The main script of an npm package's bin, or a CliError saying to install it. */
function script(pkg: string, path: string[], kind: StorageKind): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), ...path);
  } catch {
    throw new CliError(`--storage ${kind} runs ${pkg}, a devDependency of georeg: install it (npm ci in the checkout)`);
  }
}

/** Set up `kind` for a cluster whose state is in `data`, the emulator (if any) on 127.0.0.1:`port`. */
export async function sharedStorage(kind: StorageKind, data: string, port: number): Promise<SharedStorage> {
  if (kind === 'fs') return { env: () => ({ GEOREG_STORAGE_DRIVER: 'fs' }) };
  const name = kind === 'azure' ? 'azurite' : 's3rver';
  const dir = join(data, name);
  await mkdir(dir, { recursive: true });
  const secret = (file: string, value: string): Promise<void> => writeFile(join(dir, file), value, { mode: 0o600 });
  const base = { region: 'cluster', kind: name, label: name, env: process.env, logFile: `${dir}.log` };
  const endpoint = `http://127.0.0.1:${port}`;
  if (kind === 'azure') {
    await secret('account.key', AZURITE_KEY);
    const main = script('azurite', ['dist', 'src', 'blob', 'main.js'], kind);
    const flags = ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck'];
    return {
      emulator: {
        spec: { ...base, cmd: process.execPath, args: [main, ...flags, '--loose', '--disableTelemetry'] },
        ready: /successfully listens on/,
      },
      env: (region) => ({
        GEOREG_STORAGE_DRIVER: 'azure',
        GEOREG_STORAGE_AZURE_URL: `${endpoint}/${AZURITE_ACCOUNT}`,
        GEOREG_STORAGE_AZURE_ACCOUNT_NAME: AZURITE_ACCOUNT,
        GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: join(dir, 'account.key'),
        GEOREG_STORAGE_AZURE_CONTAINER: `georeg-${region}`,
      }),
    };
  }
  await secret('key-id', S3RVER_KEY);
  await secret('secret', S3RVER_KEY);
  const main = script('s3rver', ['bin', 's3rver.js'], kind);
  const objects = join(dir, 'objects');
  await mkdir(objects, { recursive: true });
  return {
    emulator: {
      spec: {
        ...base,
        cmd: process.execPath,
        args: [main, '-d', objects, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', S3_BUCKET],
      },
      ready: /S3rver listening on/,
    },
    env: (region) => ({
      GEOREG_STORAGE_DRIVER: 's3',
      GEOREG_STORAGE_S3_ENDPOINT: endpoint,
      GEOREG_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      GEOREG_STORAGE_S3_REGION: 'us-east-1',
      GEOREG_STORAGE_S3_BUCKET: S3_BUCKET,
      GEOREG_STORAGE_S3_PREFIX: `${region}/`,
      GEOREG_STORAGE_S3_ACCESS_KEY_ID_FILE: join(dir, 'key-id'),
      GEOREG_STORAGE_S3_SECRET_ACCESS_KEY_FILE: join(dir, 'secret'),
    }),
  };
}
