/**
 * The metadata databases of `georeg cluster --meta postgres`: one per region on one PostgreSQL
 * server, named after the region and the data directory (`georeg_<region>_<12 hex of its path>`),
 * so the same DIR gets the same databases back after a restart. Created when absent, never
 * dropped by the cluster (they are its state, as DIR is); each region's connection string is
 * written to `<region>/pg-url` for its nodes (GEOREG_META_POSTGRES_URL_FILE).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import pg from 'pg';
import { withoutPassword } from 'georeg/nodes';
import { CliError } from '../command.js';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseName(data: string, region: string): string {
  return `georeg_${region.replace(/-/g, '_')}_${createHash('sha256').update(data).digest('hex').slice(0, 12)}`;
}

/** Make sure region `region`'s database exists on the server `admin` names; returns the file its URL is in. */
export async function regionDatabase(admin: string, data: string, region: string, urlFile: string): Promise<string> {
  const name = databaseName(data, region);
  const client = new pg.Client({ connectionString: admin });
  try {
    await client.connect();
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    // An identifier cannot be a parameter: `name` is made of [a-z0-9_] only.
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } catch (e) {
    throw new CliError(`--meta postgres: cannot create the database ${name} through ${withoutPassword(admin)}: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  await writeFile(urlFile, `${url.href}\n`, { mode: 0o600 });
  return urlFile;
}
