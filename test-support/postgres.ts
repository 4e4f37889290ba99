/**
 * A database of its own on the local PostgreSQL for a test: created under a unique name through the
 * server GEOREG_TEST_PG_URL names (default postgres://postgres@127.0.0.1:5432/postgres, a role that
 * may create databases), dropped with its connections by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_TEST_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** The connection string of the new database. */
  url: string;
  /**
   * A new, empty schema in the database, as a connection string whose connections use it
   * (`search_path`): a store of its own without the cost of a database each.
   */
  schema(): Promise<string>;
  /** Drop the database, closing whatever connections it still has. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = process.env.GEOREG_TEST_PG_URL ?? DEFAULT_TEST_PG_URL;
  const name = uniqueName('georeg_test');
  // Identifiers cannot be parameters: `name` is made of [a-z0-9_] only.
  await run(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    schema: async () => {
      const schema = uniqueName('s');
      await run(url.href, `CREATE SCHEMA ${schema}`);
      const scoped = new URL(url);
      scoped.searchParams.set('options', `-c search_path=${schema}`);
      return scoped.href;
    },
    drop: () => run(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(6).toString('hex')}`;
}

/** One statement on a connection of its own. */
async function run(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
