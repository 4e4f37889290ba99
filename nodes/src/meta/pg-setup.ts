import { readFileSync } from 'node:fs';
import { ConfigError, checkPostgresUrl, withoutPassword, type PostgresMetaConfig } from '../config.js';
import { PgMetaStore } from './pg-store.js';

/**
 * The PostgreSQL store `meta.postgres` names, its schema brought up to date. A connection string in
 * `urlFile` is read here, and kept only by the pool: no message shows its password.
 */
export async function openPgMetaStore(postgres: PostgresMetaConfig): Promise<PgMetaStore> {
  const url = postgres.urlFile ? fromFile(postgres.urlFile) : postgres.url;
  try {
    return await PgMetaStore.open(url, { poolSize: postgres.poolSize });
  } catch (e) {
    const shown = withoutPassword(url);
    const reason = (e as Error).message.split(url).join(shown);
    throw new ConfigError(`meta.postgres: cannot open the metadata database ${shown}: ${reason}`, { cause: e });
  }
}

function fromFile(file: string): string {
  let url: string;
  try {
    url = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(`meta.postgres.urlFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  checkPostgresUrl(url, `meta.postgres.urlFile (${file})`);
  return url;
}
