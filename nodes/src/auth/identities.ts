import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto';
import { oci } from 'georeg/oci';
import type { MetaStore, RecordStore } from '../meta/store.js';
import { ACTIONS, ScopeMap, parseRoleRules, parseScopeRules, roleScopes, type RoleRule, type ScopeRule } from './scopes.js';
import type { HlcTimestamp, HybridClock } from '../hlc.js';
import { LastWriterWins } from '../events/last-writer-wins.js';
import type { EventRecorder } from '../events/recorder.js';

const scrypt = (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

/** scrypt cost: N=2^15, r=8, p=1 (about 32 MiB and tens of ms per check). */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The longest token lifetime: 100 years (a longer one is no expiry at all, and past dates JavaScript can show). */
const MAX_TOKEN_SECONDS = 100 * 365 * 24 * 3600;
/** The last instant a JavaScript Date holds (ECMA-262: 8.64e15 ms after the epoch). */
const MAX_DATE_MS = 8.64e15;
const USER = 'auth/user/';
const TOKEN = 'auth/token/';

/** Every record carries the clock of its last change: the newest wins in every region. */
interface Clocked {
  clock: HlcTimestamp;
}

/** A deleted identity: kept so the delete replicates and an older change cannot bring it back. */
interface Tombstone extends Clocked {
  name: string;
  deleted: true;
}

interface StoredUser extends Partial<Clocked> {
  name: string;
  /** Random; new on creation and on every password change (ends older refresh tokens). */
  gen?: string;
  /** scrypt$N$r$p$salt$hash, base64 parts. */
  password: string;
  admin: boolean;
  /** Absent in records from before roles existed: those keep `LEGACY_ROLES`. Empty: no access. */
  roles?: RoleRule[];
  disabled: boolean;
  created: number;
}

interface StoredToken extends Partial<Clocked> {
  name: string;
  gen?: string;
  /** sha256 of the secret: secrets are 32 random bytes, so a fast hash is enough. */
  secret: string;
  scopes: ScopeRule[];
  disabled: boolean;
  /** ms since epoch; 0: never. */
  expires: number;
  created: number;
}

/** Someone who proved who they are: a user (its roles; an administrator every action, and manages identities) or a token (its scope map). */
export interface Principal {
  kind: 'user' | 'token';
  name: string;
  admin: boolean;
  scopes: ScopeMap;
  /** Changes when the identity is re-created or its password changes: refresh tokens name it. */
  generation: string;
}

export interface UserView {
  name: string;
  admin: boolean;
  /** The roles the user holds (an administrator holds every action on every repository besides). */
  roles: RoleRule[];
  /** Stored before roles existed: holds `LEGACY_ROLES` until given roles. */
  legacy: boolean;
  disabled: boolean;
  created: string;
}

export interface TokenView {
  name: string;
  scopes: ScopeRule[];
  disabled: boolean;
  expires: string | null;
  created: string;
}

/** What an administrator may do: everything, everywhere. */
const EVERYTHING = new ScopeMap([{ repositories: ['**'], actions: [...ACTIONS] }]);
/** The roles of a user stored before roles existed (no `roles` field, here or in a region on an older release): what every user could do then. */
export const LEGACY_ROLES: readonly RoleRule[] = [{ repositories: ['**'], roles: ['push', 'delete'] }];

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Whether a stored hash is one this code would write: scrypt with sane costs (a record from a peer could say anything). */
function wellFormed(stored: string): { N: number; r: number; p: number; salt: Buffer; hash: Buffer } | undefined {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  const [N, R, P] = [Number(n), Number(r), Number(p)];
  const powerOfTwo = Number.isInteger(Math.log2(N));
  if (scheme !== 'scrypt' || !salt || !hash || !powerOfTwo || N < 1 << 14 || N > 1 << 17 || !(R >= 1 && R <= 16) || !(P >= 1 && P <= 4))
    return undefined;
  const h = Buffer.from(hash, 'base64');
  return h.length >= 16 && h.length <= 64 ? { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), hash: h } : undefined;
}

async function checkPassword(password: string, stored: string): Promise<boolean> {
  const w = wellFormed(stored);
  if (!w) return false;
  const got = await scrypt(password, w.salt, w.hash.length, { N: w.N, r: w.r, p: w.p, maxmem: SCRYPT.maxmem }).catch(() => undefined);
  return got !== undefined && timingSafeEqual(got, w.hash);
}

/** The shape a replicated user or token record must have before it is stored. */
function validRecord(prefix: string, r: Record<string, unknown>): boolean {
  if (r.deleted === true) return true;
  if (prefix === USER) {
    const fields =
      typeof r.password === 'string' &&
      wellFormed(r.password) !== undefined &&
      typeof r.admin === 'boolean' &&
      typeof r.disabled === 'boolean';
    return fields && (r.roles === undefined || parses(parseRoleRules, r.roles));
  }
  return (
    parses(parseScopeRules, r.scopes) &&
    typeof r.secret === 'string' &&
    Buffer.from(r.secret, 'base64').length === 32 &&
    typeof r.disabled === 'boolean' &&
    typeof r.expires === 'number'
  );
}

/** Whether `parse` accepts `v`. */
function parses(parse: (v: unknown) => unknown, v: unknown): boolean {
  try {
    parse(v);
    return true;
  } catch {
    return false;
  }
}

/** A stand-in hash, checked when the user does not exist, so a login takes as long either way. */
const DUMMY = hashPassword(randomBytes(16).toString('hex'));

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Users (passwords as scrypt hashes) and ACR-style tokens (a scope map, can be
 * disabled or expire; the secret is shown once and stored hashed), in the
 * metadata store. Secrets are compared in constant time.
 */
export class Identities {
  /** Users and tokens by key (`auth/user/<name>`, `auth/token/<name>`: the keys they replicate under), tombstones included. */
  private readonly stored: RecordStore<StoredUser | StoredToken | Tombstone>;
  /** Each record, the newest change winning; one change of a key at a time. */
  private readonly lww: LastWriterWins;

  constructor(
    meta: MetaStore,
    private readonly hlc: HybridClock,
    /** Records each change as an event, so identities replicate to every region. */
    private readonly events?: EventRecorder,
    private readonly now: () => number = Date.now,
  ) {
    this.stored = meta.records('identities');
    this.lww = new LastWriterWins(this.stored, hlc, now);
  }

  async hasUsers(): Promise<boolean> {
    for await (const { record } of this.stored.list(USER)) if (!isTombstone(record)) return true;
    return false;
  }

  /**
   * Store the record `change` makes of the live one held (undefined: none, or deleted), with its
   * event, stamped `at` or later than the record it replaces. Under the key's lock: a change
   * replicated meanwhile is not overwritten by one made from what was held before it.
   */
  private async write<R extends object>(key: string, change: (held: R | undefined) => R, at?: HlcTimestamp): Promise<R> {
    const events = this.events;
    const stored = await this.lww.write(key, (held) => change(held === undefined || isTombstone(held) ? undefined : (held as R)), at, {
      events: events && ((json, clock) => [events.identityPut(key, json, clock)]),
    });
    events?.committed();
    return stored;
  }

  /** A live record, or undefined (absent, deleted, or a name no record can have: names come from URLs and logins). */
  private async read<T>(prefix: typeof USER | typeof TOKEN, name: string): Promise<T | undefined> {
    if (!NAME.test(name)) return undefined;
    const v = await this.stored.get(prefix + name);
    return v === undefined || isTombstone(v) ? undefined : (v as T);
  }

  /** Every record, tombstones included, with its clock: what a peer compares (anti-entropy). */
  async *records(): AsyncIterable<{ key: string; record: string; clock: HlcTimestamp }> {
    for (const prefix of [USER, TOKEN]) {
      for await (const { key, record } of this.stored.list(prefix)) {
        if (record.clock) yield { key, record: JSON.stringify(record), clock: record.clock };
      }
    }
  }

  /** A record from another region: kept when newer than the one held. A malformed one is dropped. Returns whether it was kept. */
  async applyReplicated(key: string, json: string, at: HlcTimestamp): Promise<boolean> {
    const prefix = key.startsWith(USER) ? USER : key.startsWith(TOKEN) ? TOKEN : undefined;
    let record: Partial<Clocked> & { name?: unknown };
    try {
      record = JSON.parse(json) as typeof record;
    } catch {
      return false;
    }
    if (!prefix || typeof record.name !== 'string' || key !== prefix + record.name || !NAME.test(record.name)) return false;
    if (!validRecord(prefix, record as Record<string, unknown>)) return false;
    return (await this.lww.apply(key, record, at)) === 'stored';
  }

  /**
   * Create a user with `roles` (none: it can log in, and do nothing). `bootstrap`
   * (the first administrator of a region) stamps it with the oldest possible
   * clock, so the user that other regions hold, which replication brings, wins over it.
   */
  async addUser(name: string, password: string, admin: boolean, options: { roles?: unknown; bootstrap?: boolean } = {}): Promise<UserView> {
    checkName(name);
    const roles = checked(parseRoleRules, options.roles ?? []);
    const hash = await hashPassword(longEnough(password));
    if (await this.read(TOKEN, name)) throw oci('AUTH_INVALID', `${name} is a token's name`);
    const u = await this.write<StoredUser>(
      USER + name,
      (held) => {
        if (held) throw oci('AUTH_INVALID', `user ${name} exists`);
        return { name, gen: newGeneration(), password: hash, admin, roles, disabled: false, created: this.now() };
      },
      options.bootstrap ? { wallMs: 0, logical: 0, region: this.hlc.region } : undefined,
    );
    return userView(u);
  }

  /** Change a user; `roles` replaces all of its roles. */
  async setUser(name: string, change: { password?: string; disabled?: boolean; admin?: boolean; roles?: unknown }): Promise<UserView> {
    const roles = change.roles === undefined ? undefined : checked(parseRoleRules, change.roles);
    // Hashed before the record is locked: scrypt takes tens of milliseconds.
    const password = change.password === undefined ? undefined : await hashPassword(longEnough(change.password));
    const u = await this.write<StoredUser>(USER + knownName(name, 'user'), (held) => {
      if (!held) throw oci('AUTH_UNKNOWN', `no user ${name}`);
      const next = { ...held };
      if (roles) next.roles = roles;
      if (password !== undefined) Object.assign(next, { password, gen: newGeneration() });
      if (change.disabled !== undefined) next.disabled = change.disabled;
      if (change.admin !== undefined) next.admin = change.admin;
      return next;
    });
    return userView(u);
  }

  listUsers(): Promise<UserView[]> {
    return this.list(USER, userView);
  }

  /** Users other than administrators stored before roles existed: they hold `LEGACY_ROLES` until narrowed. */
  async legacyUsers(): Promise<string[]> {
    return (await this.listUsers()).filter((u) => u.legacy && !u.admin).map((u) => u.name);
  }

  /** The live records under `prefix` (not their tombstones), as `view` shows them. */
  private async list<S, V>(prefix: string, view: (record: S) => V): Promise<V[]> {
    const out: V[] = [];
    for await (const { record } of this.stored.list(prefix)) if (!isTombstone(record)) out.push(view(record as S));
    return out;
  }

  /** Create a token; returns it with its secret, which is never shown again. */
  async addToken(name: string, scopes: unknown, expiresInSeconds: number): Promise<TokenView & { secret: string }> {
    checkName(name);
    const rules = checked(parseScopeRules, scopes);
    if (!Number.isSafeInteger(expiresInSeconds) || expiresInSeconds < 0 || expiresInSeconds > MAX_TOKEN_SECONDS) {
      throw oci('AUTH_INVALID', `expiresInSeconds must be an integer from 0 (never) to ${MAX_TOKEN_SECONDS} (100 years)`);
    }
    if (await this.read(USER, name)) throw oci('AUTH_INVALID', `${name} is a user's name`);
    const secret = randomBytes(32).toString('base64url');
    const t = await this.write<StoredToken>(TOKEN + name, (held) => {
      if (held) throw oci('AUTH_INVALID', `token ${name} exists`);
      return {
        name,
        gen: newGeneration(),
        secret: sha256(secret).toString('base64'),
        scopes: rules,
        disabled: false,
        expires: expiresInSeconds > 0 ? this.now() + expiresInSeconds * 1000 : 0,
        created: this.now(),
      };
    });
    return { ...tokenView(t), secret };
  }

  async setToken(name: string, change: { disabled?: boolean }): Promise<TokenView> {
    const t = await this.write<StoredToken>(TOKEN + knownName(name, 'token'), (held) => {
      if (!held) throw oci('AUTH_UNKNOWN', `no token ${name}`);
      return change.disabled === undefined ? held : { ...held, disabled: change.disabled };
    });
    return tokenView(t);
  }

  listTokens(): Promise<TokenView[]> {
    return this.list(TOKEN, tokenView);
  }

  async remove(kind: 'user' | 'token', name: string): Promise<void> {
    const prefix = kind === 'user' ? USER : TOKEN;
    await this.write<StoredUser | StoredToken | Omit<Tombstone, 'clock'>>(prefix + knownName(name, kind), (held) => {
      if (!held) throw oci('AUTH_UNKNOWN', `no ${kind} ${name}`);
      return { name, deleted: true };
    });
  }

  /** The principal these credentials prove, or undefined (wrong, disabled, expired, unknown: all alike to the caller). */
  async login(name: string, secret: string): Promise<Principal | undefined> {
    const t = await this.read<StoredToken>(TOKEN, name);
    if (t) {
      // As long as a password check, so the answer's timing does not tell token names from others.
      await checkPassword(secret, await DUMMY);
      const ok = timingSafeEqual(sha256(secret), Buffer.from(t.secret, 'base64'));
      return ok ? tokenPrincipal(t, this.now()) : undefined;
    }
    const u = await this.read<StoredUser>(USER, name);
    if (!u) {
      await checkPassword(secret, await DUMMY);
      return undefined;
    }
    return (await checkPassword(secret, u.password)) ? userPrincipal(u) : undefined;
  }

  /** The principal a refresh token names, if it still exists and is enabled (its scopes as they are now). */
  async current(kind: 'user' | 'token', name: string): Promise<Principal | undefined> {
    if (kind === 'user') {
      const u = await this.read<StoredUser>(USER, name);
      return u && userPrincipal(u);
    }
    const t = await this.read<StoredToken>(TOKEN, name);
    return t && tokenPrincipal(t, this.now());
  }
}

const newGeneration = (): string => randomBytes(9).toString('base64url');

/** An enabled user as a principal: an administrator may do everything, others what their roles allow. */
function userPrincipal(u: StoredUser): Principal | undefined {
  if (u.disabled) return undefined;
  const scopes = u.admin ? EVERYTHING : new ScopeMap(roleScopes(u.roles ?? [...LEGACY_ROLES]));
  return { kind: 'user', name: u.name, admin: u.admin, scopes, generation: u.gen ?? '' };
}

/** An enabled, unexpired token as a principal: its scope map. */
function tokenPrincipal(t: StoredToken, now: number): Principal | undefined {
  if (t.disabled || (t.expires !== 0 && now >= t.expires)) return undefined;
  return { kind: 'token', name: t.name, admin: false, scopes: new ScopeMap(t.scopes), generation: t.gen ?? '' };
}

/** `parse(v)`, its error an AUTH_INVALID naming what is wrong. */
function checked<T>(parse: (v: unknown) => T, v: unknown): T {
  try {
    return parse(v);
  } catch (e) {
    throw oci('AUTH_INVALID', (e as Error).message);
  }
}

function isTombstone(v: unknown): v is Tombstone {
  return (v as Partial<Tombstone>).deleted === true;
}

/** `name` if a record can have it (names come from URLs); else the identity is unknown. */
function knownName(name: string, kind: 'user' | 'token'): string {
  if (!NAME.test(name)) throw oci('AUTH_UNKNOWN', `no ${kind} ${name}`);
  return name;
}

function longEnough(password: string): string {
  if (password.length < 12) throw oci('AUTH_INVALID', 'passwords need at least 12 characters');
  return password;
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw oci('AUTH_INVALID', 'names are 1-64 of [a-z0-9._-], starting with a letter or digit');
}

function userView(u: StoredUser): UserView {
  return {
    name: u.name,
    admin: u.admin,
    roles: u.roles ?? [...LEGACY_ROLES],
    legacy: u.roles === undefined,
    disabled: u.disabled,
    created: new Date(u.created).toISOString(),
  };
}

function tokenView(t: StoredToken): TokenView {
  // A lifetime stored before lifetimes were bounded (or by an older region) may be past what a Date shows.
  const expires = t.expires ? new Date(Math.min(t.expires, MAX_DATE_MS)).toISOString() : null;
  return { name: t.name, scopes: t.scopes, disabled: t.disabled, expires, created: new Date(t.created).toISOString() };
}
