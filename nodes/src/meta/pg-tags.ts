import type { PoolClient } from 'pg';
import type { Digest } from 'georeg/oci';
import type { HlcTimestamp } from '../hlc.js';

/** What a tag holds in a transaction under its repository's lock: its digest (none: absent) and the clock of its last change. */
export async function tagState(c: PoolClient, repo: string, tag: string): Promise<{ digest?: Digest; clock?: HlcTimestamp }> {
  const { rows } = await c.query<{ digest: Digest | null; clock: HlcTimestamp | null }>(
    `SELECT (SELECT digest FROM tags WHERE repo = $1 AND name = $2) AS digest,
            (SELECT clock FROM tag_clocks WHERE repo = $1 AND tag = $2) AS clock`,
    [repo, tag],
  );
  return { digest: rows[0]?.digest ?? undefined, clock: rows[0]?.clock ?? undefined };
}

/** Point `tag` at `digest` (where it does not point yet): created stays (or is `now`), updated is `now`. */
export async function pointTag(c: PoolClient, repo: string, tag: string, digest: Digest, now: number): Promise<void> {
  await c.query(
    `INSERT INTO tags (repo, name, digest, created, updated) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (repo, name) DO UPDATE SET digest = EXCLUDED.digest, updated = EXCLUDED.updated`,
    [repo, tag, digest, now],
  );
}

/** Record the clock of a tag's change (kept after the tag goes). */
export async function setTagClock(c: PoolClient, repo: string, tag: string, clock: HlcTimestamp): Promise<void> {
  await c.query(
    'INSERT INTO tag_clocks (repo, tag, clock) VALUES ($1, $2, $3) ON CONFLICT (repo, tag) DO UPDATE SET clock = EXCLUDED.clock',
    [repo, tag, JSON.stringify(clock)],
  );
}
