import type { Db } from './pg-db.js';
import { LOCK_CLASS, transaction } from './pg-transaction.js';

/*
 * The versions of PgMetaStore's schema, applied in order when a store opens: each in the same
 * transaction as the row of schema_migrations that records it, under a transaction-level advisory
 * lock, so two nodes starting at once apply each version once (the second waits, then finds it
 * done). Names, tags, digests and keys are `COLLATE "C"`: byte order, the order every listing
 * promises (and LevelDB's).
 */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE repositories (name text COLLATE "C" PRIMARY KEY);
      CREATE TABLE tags (
        repo text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        digest text COLLATE "C" NOT NULL,
        created bigint NOT NULL,
        updated bigint NOT NULL,
        PRIMARY KEY (repo, name)
      );
      CREATE INDEX tags_by_digest ON tags (repo, digest, name);
      CREATE INDEX tags_by_time ON tags (repo, updated, name);
      CREATE TABLE tag_clocks (
        repo text COLLATE "C" NOT NULL,
        tag text COLLATE "C" NOT NULL,
        clock jsonb NOT NULL,
        PRIMARY KEY (repo, tag)
      );
      CREATE TABLE manifests (
        repo text COLLATE "C" NOT NULL,
        digest text COLLATE "C" NOT NULL,
        subject text COLLATE "C",
        updated bigint NOT NULL,
        record jsonb NOT NULL,
        PRIMARY KEY (repo, digest)
      );
      CREATE INDEX manifests_by_time ON manifests (repo, updated, digest);
      CREATE INDEX manifests_by_subject ON manifests (repo, subject, digest) WHERE subject IS NOT NULL;
      CREATE TABLE blob_links (
        repo text COLLATE "C" NOT NULL,
        digest text COLLATE "C" NOT NULL,
        size bigint NOT NULL,
        created bigint NOT NULL,
        PRIMARY KEY (repo, digest)
      );
      CREATE TABLE uploads (id text COLLATE "C" PRIMARY KEY, session jsonb NOT NULL);
      CREATE TABLE records (
        store text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        record jsonb NOT NULL,
        PRIMARY KEY (store, key)
      );
      CREATE TABLE outbox (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event bytea NOT NULL);
      CREATE TABLE repository_hashes (name text COLLATE "C" PRIMARY KEY, leaf integer NOT NULL, hash bytea NOT NULL);
      CREATE INDEX repository_hashes_by_leaf ON repository_hashes (leaf, name);
      CREATE TABLE tree_leaves (leaf integer PRIMARY KEY, hash bit(256) NOT NULL);
      CREATE TABLE tree_level1 (node integer PRIMARY KEY, hash bit(256) NOT NULL);
      CREATE TABLE record_hashes (store text PRIMARY KEY, hash bit(256) NOT NULL);
    `,
  },
  {
    // A repository's events numbered in write order (OutboxEntry.repositorySeq).
    version: 2,
    sql: `
      ALTER TABLE outbox ADD COLUMN repository_seq bigint;
      CREATE TABLE repository_events (name text COLLATE "C" PRIMARY KEY, seq bigint NOT NULL);
    `,
  },
  {
    // What a GC reads of one digest in every repository, under its digest lock (pg-digest-locks.ts).
    version: 3,
    sql: `
      CREATE INDEX blob_links_by_digest ON blob_links (digest);
      CREATE INDEX manifests_by_digest ON manifests (digest);
      CREATE INDEX manifests_by_reference ON manifests USING gin ((record->'references') jsonb_path_ops);
    `,
  },
];

/** The schema this release writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring the database up to SCHEMA_VERSION; returns the versions applied now (none when another
 * node did). A database of a later schema than this release knows is refused, unchanged.
 */
export async function migrate(pool: Db): Promise<number[]> {
  return transaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_CLASS.migrations]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())');
    const { rows } = await c.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const held = rows[0]?.version ?? 0;
    if (held > SCHEMA_VERSION) {
      throw new Error(
        `the metadata database is of schema ${held}, newer than this release's ${SCHEMA_VERSION}: open it with the georeg release that wrote it`,
      );
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS.filter((m) => m.version > held)) {
      await c.query(m.sql);
      await c.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
      applied.push(m.version);
    }
    return applied;
  });
}
