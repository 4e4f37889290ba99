import { oci, parseDigest, parseName, parseTag, type Digest } from 'georeg/oci';
import type { MetaStore, RecordStore } from '../meta/store.js';
import type { EventRecorder } from '../events/recorder.js';
import type { HlcTimestamp, HybridClock } from '../hlc.js';
import { LastWriterWins, type Clocked } from '../events/last-writer-wins.js';

/** ACR's changeable attributes: each `true` unless a lock says otherwise. */
export const ATTRIBUTES = ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
export type Attributes = Record<Attribute, boolean>;

/** What a lock is on: a repository, one of its tags, or one of its manifests. */
export type LockTarget = { repository: string; tag?: string; digest?: undefined } | { repository: string; digest: Digest; tag?: undefined };

/** A lock as stored and replicated: the attributes set on its target (those never set are `true`). */
interface LockRecord {
  attributes: Partial<Attributes>;
}

/** What is asked of a target: a push, a delete, a pull, or to be listed. */
type Use = 'write' | 'delete' | 'read' | 'list';
const ATTRIBUTE_OF: Record<Use, Attribute> = { write: 'writeEnabled', delete: 'deleteEnabled', read: 'readEnabled', list: 'listEnabled' };
const VERB: Record<Use, string> = { write: 'written', delete: 'deleted', read: 'read', list: 'listed' };

/** The key of a lock: `<repo>`, `<repo>:<tag>` or `<repo>@<digest>` (as a reference is written). */
export function lockKey(t: LockTarget): string {
  return t.tag !== undefined ? `${t.repository}:${t.tag}` : t.digest !== undefined ? `${t.repository}@${t.digest}` : t.repository;
}

/** The target a lock key names, validated (keys come from peers and from URLs). */
export function lockTarget(key: string): LockTarget {
  const at = key.indexOf('@');
  if (at >= 0) return { repository: parseName(key.slice(0, at)), digest: parseDigest(key.slice(at + 1)) };
  const colon = key.lastIndexOf(':');
  if (colon >= 0) return { repository: parseName(key.slice(0, colon)), tag: parseTag(key.slice(colon + 1)) };
  return { repository: parseName(key) };
}

/** The attributes of a PATCH body: an object of known attributes, each a boolean. */
export function parseAttributes(body: unknown): Partial<Attributes> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw oci('ATTRIBUTES_INVALID', 'send a JSON object such as {"writeEnabled": false}');
  }
  const out: Partial<Attributes> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!(ATTRIBUTES as readonly string[]).includes(k))
      throw oci('ATTRIBUTES_INVALID', `unknown attribute ${k}: known are ${ATTRIBUTES.join(', ')}`);
    if (typeof v !== 'boolean') throw oci('ATTRIBUTES_INVALID', `${k} must be true or false`);
    out[k as Attribute] = v;
  }
  return out;
}

/**
 * Locks of repositories, tags and manifests (ACR's changeable attributes), in the `locks` record
 * store: versioned by the hybrid logical clock, replicated as LOCK_PUT events and by anti-entropy,
 * and never overwritten by an older change (LastWriterWins), whichever region it comes from. A lock
 * is its own record, apart from the tag or manifest it is on, so a replicated write of a tag
 * cannot carry an older lock with it. Locks outlive their targets: a tag deleted and pushed again
 * keeps its lock. All of them are held in memory as well (they are few), so the checks on the
 * pull path cost a map lookup, and nothing when there are none. In a store other nodes write too
 * (MetaStore.shared), whose locks reach memory here only at the next refresh, the checks of a
 * write or a delete read the locks they ask about from the store, so a lock set through any node
 * is enforced by all of them at once.
 */
export class Locks {
  readonly #stored: RecordStore<Clocked<LockRecord>>;
  readonly #lww: LastWriterWins;
  /** Other nodes write the store too: writes and deletes are checked against it, not memory. */
  readonly #shared: boolean;
  /** Attributes set, by lock key. */
  readonly #held = new Map<string, Partial<Attributes>>();
  #loaded: Promise<void> | undefined;
  /** Lock changes stored, made here and replicated from other regions (metrics). */
  readonly changes = { local: 0, replicated: 0 };

  constructor(
    meta: MetaStore,
    hlc: HybridClock,
    private readonly events?: EventRecorder,
    now: () => number = Date.now,
  ) {
    this.#stored = meta.records('locks');
    this.#shared = meta.shared;
    this.#lww = new LastWriterWins(this.#stored, hlc, now);
  }

  /** The attributes of a target (every one `true` that no lock sets). */
  async attributes(target: LockTarget): Promise<Attributes> {
    await this.#load();
    const set = this.#held.get(lockKey(target)) ?? {};
    return { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true, ...set };
  }

  /** Change some attributes of a target here, with its event; returns them all. */
  async update(target: LockTarget, change: Partial<Attributes>): Promise<Attributes> {
    await this.#load();
    const key = lockKey(target);
    const events = this.events;
    await this.#lww.write<LockRecord>(
      key,
      (held) => ({ attributes: { ...((held as LockRecord | undefined)?.attributes ?? {}), ...change } }),
      undefined,
      { events: events && ((json, clock) => [events.lockPut(key, json, clock)]), stored: (r) => this.#held.set(key, r.attributes) },
    );
    events?.committed();
    this.changes.local++;
    return this.attributes(target);
  }

  /** A lock from another region: kept when newer than the one held; a malformed one is dropped. Returns whether it was kept. */
  async applyReplicated(key: string, json: string, at: HlcTimestamp): Promise<boolean> {
    await this.#load();
    let record: LockRecord;
    try {
      lockTarget(key);
      record = { attributes: parseAttributes((JSON.parse(json) as Partial<LockRecord>).attributes) };
    } catch {
      return false;
    }
    const stored = (await this.#lww.apply(key, record, at, { stored: (r) => this.#held.set(key, r.attributes) })) === 'stored';
    if (stored) this.changes.replicated++;
    return stored;
  }

  /** Every lock with its clock: what a peer compares (anti-entropy). */
  async *records(): AsyncIterable<{ key: string; record: string; clock: HlcTimestamp }> {
    for await (const { key, record } of this.#stored.list())
      yield { key, record: JSON.stringify({ attributes: record.attributes }), clock: record.clock };
  }

  /**
   * Refuses (LOCKED) a use of a repository, of a tag of it, or of a manifest of it and the tags
   * pointing at it, when a lock on any of them disables that use.
   */
  async check(use: Use, repository: string, on: { tags?: string[]; digest?: Digest } = {}): Promise<void> {
    const lock = await this.lockOf(use, repository, on);
    if (lock === undefined) return;
    throw oci('LOCKED', `${lock} is locked: it cannot be ${VERB[use]} (${ATTRIBUTE_OF[use]} is false; georeg unlock lifts it)`, {
      lock,
      attribute: ATTRIBUTE_OF[use],
    });
  }

  /** The key of the lock that disables a use (as check() asks), or undefined when none does. */
  async lockOf(use: Use, repository: string, on: { tags?: string[]; digest?: Digest } = {}): Promise<string | undefined> {
    await this.#load();
    const fromStore = this.#fromStore(use);
    if (this.#held.size === 0 && !fromStore) return undefined;
    const keys = [lockKey({ repository }), ...(on.tags ?? []).map((tag) => lockKey({ repository, tag }))];
    if (on.digest !== undefined) keys.push(lockKey({ repository, digest: on.digest }));
    const set = fromStore ? await this.#storedWithin(repository) : this.#held;
    return keys.find((k) => set.get(k)?.[ATTRIBUTE_OF[use]] === false);
  }

  /** The locks of a repository, its tags and its manifests as the store holds them now (one listing: all start with its name). */
  async #storedWithin(repository: string): Promise<Map<string, Partial<Attributes>>> {
    const set = new Map<string, Partial<Attributes>>();
    for await (const { key, record } of this.#stored.list(repository))
      if (withinRepository(key, repository)) set.set(key, record.attributes);
    return set;
  }

  /** Targets (repositories, tags, manifests) with at least one attribute disabled. */
  async lockedCount(): Promise<number> {
    await this.#load();
    let n = 0;
    for (const a of this.#held.values()) if (Object.values(a).includes(false)) n++;
    return n;
  }

  /** Whether a repository, or a tag or manifest of it, may be listed. */
  async listed(target: LockTarget): Promise<boolean> {
    await this.#load();
    return this.#held.size === 0 || this.#held.get(lockKey(target))?.listEnabled !== false;
  }

  /** Whether any lock within a repository (on it, its tags or its manifests) disables deletes. */
  async deleteLockedWithin(repository: string): Promise<string | undefined> {
    await this.#load();
    const set = this.#fromStore('delete') ? await this.#storedWithin(repository) : this.#held;
    for (const [key, a] of set) if (a.deleteEnabled === false && withinRepository(key, repository)) return key;
    return undefined;
  }

  /** Read every lock again (another node sharing the store may have changed some). */
  async refresh(): Promise<void> {
    await this.#load();
    const fresh = new Map<string, Partial<Attributes>>();
    for await (const { key, record } of this.#stored.list()) fresh.set(key, record.attributes);
    this.#held.clear();
    for (const [key, a] of fresh) this.#held.set(key, a);
  }

  /** Whether a check of `use` reads the locks from the store: a write or a delete, when other nodes write it too. */
  #fromStore(use: Use): boolean {
    return this.#shared && (use === 'write' || use === 'delete');
  }

  #load(): Promise<void> {
    this.#loaded ??= (async () => {
      for await (const { key, record } of this.#stored.list()) this.#held.set(key, record.attributes);
    })();
    return this.#loaded;
  }
}

/** Whether lock key `key` is of `repository` itself, one of its tags or one of its manifests. */
function withinRepository(key: string, repository: string): boolean {
  return key === repository || key.startsWith(`${repository}:`) || key.startsWith(`${repository}@`);
}
