import type { Level } from 'level';
import type { Digest } from 'georeg/oci';
import type { HlcTimestamp } from '../hlc.js';
import type { ManifestRecord } from './store.js';
import { timeKey, type KeyOf } from './time-index.js';
import { manifestItem, tagItem, xorItems } from './digest-tree.js';

/*
 * The versions of LevelMetaStore's key layout, and how a store of an older one is brought up to
 * date when it opens: 2 added tag times (g!) and the time indexes (T!, M!); 3 added the
 * repositories' digest-tree hashes (z!); 4 numbers a repository's events (q!, and outbox values
 * that are objects, which a release of layout 3 could not read: it refuses the store rather than
 * stop publishing). Each step's batches are idempotent and the version is
 * written once a step is done, so a crash midway builds that step again at the next open.
 */

/** The layout this release writes. */
export const SCHEMA = 4;
const SCHEMA_KEY = 'v!schema';
/** Keys written per batch while building. */
const BATCH = 1000;

type RangeOf = (...prefix: string[]) => { gte: string; lt: string };
interface Keys {
  key: KeyOf;
  range: RangeOf;
}
type Put = (key: string, value: unknown) => Promise<void>;

const STEPS: { to: number; build: (db: Level<string, unknown>, keys: Keys, put: Put) => Promise<void> }[] = [
  { to: 2, build: buildTimeIndex },
  { to: 3, build: buildRepositoryHashes },
  // Nothing to build: no q! is a repository of no numbered event yet, and layout 3's outbox values are read as they are.
  { to: 4, build: async () => undefined },
];

/** Bring the store up to SCHEMA; a store of a later layout than this release knows is refused, unchanged. */
export async function migrateLayout(db: Level<string, unknown>, keys: Keys): Promise<void> {
  const version = ((await db.get(SCHEMA_KEY)) as number | undefined) ?? 1;
  if (version > SCHEMA) {
    throw new Error(`metadata is of layout ${version}, newer than this release's ${SCHEMA}: open it with the georeg release that wrote it`);
  }
  for (const step of STEPS) {
    if (version >= step.to) continue;
    const ops: { type: 'put'; key: string; value: unknown }[] = [];
    await step.build(db, keys, async (key, value) => {
      ops.push({ type: 'put', key, value });
      if (ops.length >= BATCH) await db.batch(ops.splice(0));
    });
    if (ops.length) await db.batch(ops);
    await db.put(SCHEMA_KEY, step.to);
  }
}

/** Tag times (a tag's last clock, else now, for both) and the time-order entries of tags and manifests (a manifest's `created`). */
async function buildTimeIndex(db: Level<string, unknown>, { key, range }: Keys, put: Put): Promise<void> {
  const now = Date.now();
  for await (const [repo, tag] of entries(db, range('t'))) {
    const clock = (await db.get(key('h', repo, tag))) as HlcTimestamp | undefined;
    const at = clock?.wallMs ?? now;
    await put(key('g', repo, tag), { created: at, updated: at });
    await put(timeKey(key, 'T', repo, at, tag), true);
  }
  for await (const [repo, digest, value] of entries(db, range('m'))) {
    const record = value as ManifestRecord;
    await put(timeKey(key, 'M', repo, record.updated ?? record.created, digest), true);
  }
}

/** Each repository's digest-tree hash: its tags (with their clocks), deleted tags' clocks and manifests. */
async function buildRepositoryHashes(db: Level<string, unknown>, { key, range }: Keys, put: Put): Promise<void> {
  const hashes = new Map<string, Buffer | undefined>();
  const add = (repo: string, item: Buffer | undefined): void => void hashes.set(repo, xorItems(hashes.get(repo), [item]));
  for await (const [repo, tag, digest] of entries(db, range('t'))) {
    add(repo, tagItem(tag, digest as Digest, (await db.get(key('h', repo, tag))) as HlcTimestamp | undefined));
  }
  for await (const [repo, tag, clock] of entries(db, range('h'))) {
    if ((await db.get(key('t', repo, tag))) === undefined) add(repo, tagItem(tag, undefined, clock as HlcTimestamp));
  }
  for await (const [repo, digest] of entries(db, range('m'))) add(repo, manifestItem(digest as Digest));
  for (const [repo, hash] of hashes) if (hash) await put(key('z', repo), hash.toString('hex'));
}

/** The entries of a `<kind>!<repo>!<name>` range as [repo, name, value] (repository names never hold '!'). */
async function* entries(db: Level<string, unknown>, bounds: { gte: string; lt: string }): AsyncIterable<[string, string, unknown]> {
  for await (const [k, value] of db.iterator(bounds)) {
    const rest = k.slice(bounds.gte.length);
    const at = rest.lastIndexOf('!');
    yield [rest.slice(0, at), rest.slice(at + 1), value];
  }
}
