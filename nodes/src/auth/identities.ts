import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto';
import { oci } from '../oci/errors.js';
import type { MetaStore } from '../meta/store.js';
import { ScopeMap, parseScopeRules, type ScopeRule } from './scopes.js';

const scrypt = (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

/** scrypt cost: N=2^15, r=8, p=1 (about 32 MiB and tens of ms per check). */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const USER = 'auth/user/';
const TOKEN = 'auth/token/';

interface StoredUser {
  name: string;
  /** scrypt$N$r$p$salt$hash, base64 parts. */
  password: string;
  admin: boolean;
  disabled: boolean;
  created: number;
}

interface StoredToken {
  name: string;
  /** sha256 of the secret: secrets are 32 random bytes, so a fast hash is enough. */
  secret: string;
  scopes: ScopeRule[];
  disabled: boolean;
  /** ms since epoch; 0: never. */
  expires: number;
  created: number;
}

/** Someone who proved who they are: a user (all repositories; admins manage identities) or a token (its scope map). */
export interface Principal {
  kind: 'user' | 'token';
  name: string;
  admin: boolean;
  scopes: ScopeMap;
}

export interface UserView {
  name: string;
  admin: boolean;
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

const ALL = new ScopeMap([{ repositories: ['**'], actions: ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'] }]);

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(got, expected);
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
  constructor(
    private readonly meta: MetaStore,
    private readonly now: () => number = Date.now,
  ) {}

  async hasUsers(): Promise<boolean> {
    for await (const _ of this.meta.listSettings(USER)) return true;
    return false;
  }

  async addUser(name: string, password: string, admin: boolean): Promise<UserView> {
    checkName(name);
    if (password.length < 12) throw oci('AUTH_INVALID', 'passwords need at least 12 characters');
    if (await this.meta.getSetting(USER + name)) throw oci('AUTH_INVALID', `user ${name} exists`);
    const u: StoredUser = { name, password: await hashPassword(password), admin, disabled: false, created: this.now() };
    await this.meta.putSetting(USER + name, JSON.stringify(u));
    return userView(u);
  }

  async setUser(name: string, change: { password?: string; disabled?: boolean; admin?: boolean }): Promise<UserView> {
    const u = await this.user(name);
    if (change.password !== undefined) {
      if (change.password.length < 12) throw oci('AUTH_INVALID', 'passwords need at least 12 characters');
      u.password = await hashPassword(change.password);
    }
    if (change.disabled !== undefined) u.disabled = change.disabled;
    if (change.admin !== undefined) u.admin = change.admin;
    await this.meta.putSetting(USER + name, JSON.stringify(u));
    return userView(u);
  }

  async listUsers(): Promise<UserView[]> {
    const out: UserView[] = [];
    for await (const s of this.meta.listSettings(USER)) out.push(userView(JSON.parse(s.value) as StoredUser));
    return out;
  }

  /** Create a token; returns it with its secret, which is never shown again. */
  async addToken(name: string, scopes: unknown, expiresInSeconds: number): Promise<TokenView & { secret: string }> {
    checkName(name);
    let rules: ScopeRule[];
    try {
      rules = parseScopeRules(scopes);
    } catch (e) {
      throw oci('AUTH_INVALID', (e as Error).message);
    }
    if (await this.meta.getSetting(TOKEN + name)) throw oci('AUTH_INVALID', `token ${name} exists`);
    if (await this.meta.getSetting(USER + name)) throw oci('AUTH_INVALID', `${name} is a user's name`);
    const secret = randomBytes(32).toString('base64url');
    const t: StoredToken = { name, secret: sha256(secret).toString('base64'), scopes: rules, disabled: false, expires: expiresInSeconds > 0 ? this.now() + expiresInSeconds * 1000 : 0, created: this.now() };
    await this.meta.putSetting(TOKEN + name, JSON.stringify(t));
    return { ...tokenView(t), secret };
  }

  async setToken(name: string, change: { disabled?: boolean }): Promise<TokenView> {
    const raw = await this.meta.getSetting(TOKEN + name);
    if (!raw) throw oci('AUTH_UNKNOWN', `no token ${name}`);
    const t = JSON.parse(raw) as StoredToken;
    if (change.disabled !== undefined) t.disabled = change.disabled;
    await this.meta.putSetting(TOKEN + name, JSON.stringify(t));
    return tokenView(t);
  }

  async listTokens(): Promise<TokenView[]> {
    const out: TokenView[] = [];
    for await (const s of this.meta.listSettings(TOKEN)) out.push(tokenView(JSON.parse(s.value) as StoredToken));
    return out;
  }

  async remove(kind: 'user' | 'token', name: string): Promise<void> {
    if (!(await this.meta.deleteSetting((kind === 'user' ? USER : TOKEN) + name))) throw oci('AUTH_UNKNOWN', `no ${kind} ${name}`);
  }

  /** The principal these credentials prove, or undefined (wrong, disabled, expired, unknown: all alike to the caller). */
  async login(name: string, secret: string): Promise<Principal | undefined> {
    const token = NAME.test(name) ? await this.meta.getSetting(TOKEN + name) : undefined;
    if (token) {
      const t = JSON.parse(token) as StoredToken;
      const ok = timingSafeEqual(sha256(secret), Buffer.from(t.secret, 'base64'));
      if (!ok || t.disabled || (t.expires !== 0 && this.now() >= t.expires)) return undefined;
      return { kind: 'token', name, admin: false, scopes: new ScopeMap(t.scopes) };
    }
    const raw = NAME.test(name) ? await this.meta.getSetting(USER + name) : undefined;
    if (!raw) {
      await checkPassword(secret, await DUMMY);
      return undefined;
    }
    const u = JSON.parse(raw) as StoredUser;
    if (!(await checkPassword(secret, u.password)) || u.disabled) return undefined;
    return { kind: 'user', name, admin: u.admin, scopes: ALL };
  }

  /** The principal a refresh token names, if it still exists and is enabled (its scopes as they are now). */
  async current(kind: 'user' | 'token', name: string): Promise<Principal | undefined> {
    const raw = await this.meta.getSetting((kind === 'user' ? USER : TOKEN) + name);
    if (!raw) return undefined;
    if (kind === 'user') {
      const u = JSON.parse(raw) as StoredUser;
      return u.disabled ? undefined : { kind, name, admin: u.admin, scopes: ALL };
    }
    const t = JSON.parse(raw) as StoredToken;
    if (t.disabled || (t.expires !== 0 && this.now() >= t.expires)) return undefined;
    return { kind, name, admin: false, scopes: new ScopeMap(t.scopes) };
  }

  private async user(name: string): Promise<StoredUser> {
    const raw = await this.meta.getSetting(USER + name);
    if (!raw) throw oci('AUTH_UNKNOWN', `no user ${name}`);
    return JSON.parse(raw) as StoredUser;
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw oci('AUTH_INVALID', 'names are 1-64 of [a-z0-9._-], starting with a letter or digit');
}

function userView(u: StoredUser): UserView {
  return { name: u.name, admin: u.admin, disabled: u.disabled, created: new Date(u.created).toISOString() };
}

function tokenView(t: StoredToken): TokenView {
  return { name: t.name, scopes: t.scopes, disabled: t.disabled, expires: t.expires ? new Date(t.expires).toISOString() : null, created: new Date(t.created).toISOString() };
}
