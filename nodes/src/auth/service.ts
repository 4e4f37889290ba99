import type { TLSSocket } from 'node:tls';
import { compileGlob } from 'georeg/trust';
import { apiPaths, oci, parseManifest, type Reference } from 'georeg/oci';
import type { Ctx } from '../http/context.js';
import type { Logger } from '../log.js';
import type { Identities, Principal } from './identities.js';
import { JwtSigner, LEEWAY, TokenError, type Claims } from './jwt.js';
import { LoginThrottle } from './limiter.js';
import type { Requirement } from './access.js';
import { isSignaturePush } from '../trust/gate.js';
import type { AccessEntry, RequestedScope } from './scopes.js';

export interface AuthSettings {
  /** The token audience and the challenge's `service`: one name for the whole registry, so every region accepts every token. */
  service: string;
  issuer: string;
  tokenTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Comma-separated repository globs anyone may pull without credentials. */
  anonymousPull: string;
  /** The URL clients reach the node at, for the realm (empty: scheme and Host of the request). */
  publicUrl: string;
  /** How long a signed blob URL (a redirect to another region) stays valid, seconds. */
  blobUrlTtlSeconds: number;
}

/** The scopes a requirement asks of a principal that sent Basic credentials. */
function scopesOf(need: Requirement): RequestedScope[] {
  if (need.kind === 'repository') return [{ type: 'repository', name: need.name, actions: ['*'] }];
  if (need.kind === 'catalog') return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
  return [];
}

/** What one request may do: the access its bearer token grants, or anonymous pull. */
export class RequestAccess {
  #principal?: Promise<Principal | undefined>;

  constructor(
    private readonly entries: AccessEntry[],
    private readonly anonymous: (repo: string) => boolean,
    /** Who the token was issued to (undefined: anonymous). */
    readonly subject: { kind: 'user' | 'token'; name: string; admin: boolean } | undefined,
    private readonly identities: Identities,
  ) {}

  can(repo: string, action: string): boolean {
    if ((action === 'pull' || action === 'metadata_read') && this.anonymous(repo)) return true;
    return this.entries.some((e) => e.type === 'repository' && e.name === repo && e.actions.includes(action));
  }

  /** Whether a repository requirement is met: its action, or `sign` where a signer may act too. */
  allows(need: { name: string; action: string; signer?: boolean }): boolean {
    return this.can(need.name, need.action) || (need.signer === true && this.can(need.name, 'sign'));
  }

  /**
   * A manifest push: a signer (`sign` without `push`) may put signature artifacts
   * only, by digest or under cosign's `sha256-<hex>.sig` tag; anything else is DENIED.
   */
  admitManifest(repo: string, ref: Reference, body: Buffer, contentType: string | undefined): void {
    if (this.can(repo, 'push')) return;
    if (isSignaturePush(ref, parseManifest(body, contentType))) return;
    throw oci(
      'DENIED',
      `the sign role allows pushing signatures only (signature artifacts by digest, or under cosign's sha256-<hex>.sig tags): ${ref.tag ?? ref.digest} in ${repo} is not one`,
    );
  }

  /** Whether the catalog may list `repo` to this caller: it may pull or read metadata there. */
  async visible(repo: string): Promise<boolean> {
    if (this.anonymous(repo)) return true;
    const subject = this.subject;
    if (!subject) return false;
    // Read once per request: the catalog asks for every repository it lists.
    this.#principal ??= this.identities.current(subject.kind, subject.name);
    const allowed = (await this.#principal)?.scopes.allowed(repo);
    return allowed !== undefined && (allowed.has('pull') || allowed.has('metadata_read'));
  }

  get catalog(): boolean {
    return this.entries.some((e) => e.type === 'registry' && e.name === 'catalog');
  }
}

/**
 * Authentication and authorization: the Docker registry token flow (a 401
 * challenge, /oauth2/token trading credentials for a short-lived JWT), users
 * and scoped tokens, anonymous pull per repository glob, and a limit on failed
 * logins per (client address, name), per name and per address. Secrets never reach a log line.
 */
export class AuthService {
  readonly #jwt: JwtSigner;
  /** Failed and running logins per (client address, name), per name and per client address. */
  readonly #logins: LoginThrottle;
  readonly #anonymous: (repo: string) => boolean;

  constructor(
    readonly identities: Identities,
    readonly settings: AuthSettings,
    signingKeyPem: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.#jwt = new JwtSigner(signingKeyPem, settings.issuer, settings.service);
    this.#logins = new LoginThrottle(now);
    const globs = settings.anonymousPull
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g !== '')
      .map(compileGlob);
    this.#anonymous = (repo) => globs.some((matches) => matches(repo));
  }

  /** Before a handler runs: who is asking, and may they? Sets `ctx.access`; throws UNAUTHORIZED with a challenge, or DENIED. */
  async authorize(ctx: Ctx, need: Requirement): Promise<void> {
    if (need.kind === 'public') return;
    if (need.kind === 'signed-blob') return this.signedBlob(ctx, need.name, need.digest);
    const header = ctx.header('authorization') ?? '';
    if (need.kind === 'admin') return this.admin(ctx, header);
    // Basic credentials are taken as they are at the token endpoint: what the principal may do of what is needed.
    const basic = await this.basicLogin(ctx);
    const claims = header.startsWith('Bearer ') ? this.verify(ctx, header.slice(7), need) : undefined;
    const access = new RequestAccess(
      basic ? basic.scopes.grant(scopesOf(need), true) : ((claims?.access as AccessEntry[] | undefined) ?? []),
      this.#anonymous,
      // Only a user's or a token's claims name an identity (an anonymous token's subject is no token's name).
      basic
        ? { kind: basic.kind, name: basic.name, admin: basic.admin }
        : claims && (claims.kind === 'user' || claims.kind === 'token')
          ? { kind: claims.kind, name: claims.sub, admin: claims.adm === true }
          : undefined,
      this.identities,
    );
    ctx.access = access;
    const identified = basic !== undefined || (claims !== undefined && claims.kind !== 'anonymous');
    // No credentials at all: a challenge, even where an anonymous token would do, so clients that
    // read the /v2/ ping (containers/image, containerd) learn that auth is on and log in.
    const ok =
      need.kind === 'authenticated'
        ? identified || (claims !== undefined && this.anonymousAllowed)
        : need.kind === 'catalog'
          ? access.catalog || (need.anonymous !== false && !identified && this.anonymousAllowed)
          : access.allows(need);
    if (ok) return;
    if (basic)
      throw oci(
        'DENIED',
        `${basic.kind} ${basic.name} may not do this`,
        need.kind === 'repository' ? { repository: need.name, action: need.action } : undefined,
      );
    this.challenge(ctx, need, claims ? 'insufficient_scope' : undefined);
  }

  /**
   * The credential of a signed blob URL (`?t=`): a token this registry issued
   * for exactly this repository and digest, not expired. Its expiry is exact
   * (its start is backdated instead, for clocks of other regions running ahead).
   */
  private signedBlob(ctx: Ctx, name: string, digest: string): void {
    const t = ctx.q('t');
    let claims: Claims | undefined;
    try {
      claims = t ? this.#jwt.verify(t, this.now(), 0) : undefined;
    } catch (e) {
      ctx.log.info('signed blob URL refused', { reason: (e as Error).message });
    }
    if (claims?.typ !== 'blob' || claims.sub !== name || claims.dgst !== digest)
      throw oci('DENIED', 'this signed blob URL is invalid, expired, or for another blob');
  }

  /** A token that makes an URL for one blob of one repository its own credential, for `blobUrlTtlSeconds`. */
  blobUrlToken(repo: string, digest: string): string {
    const now = this.now();
    return this.#jwt.issue(repo, this.settings.blobUrlTtlSeconds, { typ: 'blob', dgst: digest, nbf: Math.floor(now / 1000) - LEEWAY }, now)
      .token;
  }

  /** Anonymous callers (with an anonymous token for /v2/) may reach /v2/ and the catalog when some repository allows anonymous pull. */
  private get anonymousAllowed(): boolean {
    return this.settings.anonymousPull.trim() !== '';
  }

  private verify(ctx: Ctx, token: string, need: Requirement): Claims {
    try {
      const claims = this.#jwt.verify(token, this.now());
      if (claims.typ !== 'access') throw new TokenError('not an access token');
      return claims;
    } catch (e) {
      ctx.log.info('bearer token refused', { reason: (e as Error).message });
      return this.challenge(ctx, need, 'invalid_token');
    }
  }

  private async admin(ctx: Ctx, header: string): Promise<void> {
    if (header.startsWith('Bearer ')) {
      const claims = this.verify(ctx, header.slice(7), { kind: 'admin' });
      // Re-checked now: an administrator demoted or deleted since the token was issued is one no more.
      const p = claims.adm === true && claims.kind === 'user' ? await this.identities.current('user', claims.sub) : undefined;
      if (p?.admin) return;
      throw oci('DENIED', 'an administrator is required');
    }
    const p = await this.basicLogin(ctx);
    if (!p) this.challenge(ctx, { kind: 'admin' });
    if (!p.admin) throw oci('DENIED', 'an administrator is required');
  }

  /** 401 with the Docker token challenge for what the request needs. */
  challenge(ctx: Ctx, need: Requirement, error?: string): never {
    const host = /^[A-Za-z0-9.[\]:-]{1,255}$/.test(ctx.header('host') ?? '') ? (ctx.header('host') as string) : this.settings.service;
    const base = this.settings.publicUrl.replace(/\/+$/, '') || `${(ctx.req.socket as TLSSocket).encrypted ? 'https' : 'http'}://${host}`;
    let scope = '';
    if (need.kind === 'repository') scope = `repository:${need.name}:${scopeActions(need.action)}`;
    else if (need.kind === 'catalog') scope = 'registry:catalog:*';
    const parts = [`realm="${base}${apiPaths.oauthToken()}"`, `service="${this.settings.service}"`];
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    const e = oci(
      'UNAUTHORIZED',
      error === 'insufficient_scope' ? 'the token does not grant this access' : 'authentication required',
      scope ? { scope } : undefined,
    );
    e.headers['WWW-Authenticate'] = `Bearer ${parts.join(',')}`;
    throw e;
  }

  /** Basic credentials of the request: the principal, undefined when none were sent; wrong ones are UNAUTHORIZED, too many TOOMANYREQUESTS. */
  async basicLogin(ctx: Ctx): Promise<Principal | undefined> {
    const header = ctx.header('authorization') ?? '';
    if (!header.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw oci('UNAUTHORIZED', 'malformed credentials');
    return this.login(ctx, decoded.slice(0, colon), decoded.slice(colon + 1));
  }

  /** Check a name and secret; attempts are throttled (LoginThrottle), and wait their turn while others are checked. */
  async login(ctx: Ctx, name: string, secret: string): Promise<Principal> {
    const addr = ctx.req.socket.remoteAddress ?? '';
    const who = name.slice(0, 64);
    const attempt = await this.#logins.begin(addr, who);
    let p: Principal | undefined;
    try {
      p = await this.identities.login(name, secret);
    } catch (e) {
      attempt.abandoned();
      throw e;
    }
    if (!p) {
      attempt.failed();
      this.log.warn('login failed', { name: who, remote: addr });
      throw oci('UNAUTHORIZED', 'invalid credentials');
    }
    attempt.succeeded();
    return p;
  }

  /** A short-lived access token granting what `principal` (or anonymity) allows of `scopes`. */
  accessToken(principal: Principal | undefined, scopes: RequestedScope[]): { token: string; expiresIn: number; issuedAt: string } {
    const access = principal
      ? principal.scopes.grant(scopes, true)
      : scopes
          .filter((s) => s.type === 'repository' && this.#anonymous(s.name) && s.actions.some((a) => a === 'pull' || a === '*'))
          .map((s) => ({ type: 'repository' as const, name: s.name, actions: ['pull'] }));
    const ttl = this.settings.tokenTtlSeconds;
    const { token, claims } = this.#jwt.issue(
      principal?.name ?? 'anonymous',
      ttl,
      { typ: 'access', kind: principal?.kind ?? 'anonymous', adm: principal?.admin ?? false, access },
      this.now(),
    );
    return { token, expiresIn: ttl, issuedAt: new Date(claims.iat * 1000).toISOString() };
  }

  /**
   * A long-lived refresh token (Docker's offline token, ACR's refresh token)
   * for `principal`. It names the identity's generation (a password change or
   * re-creation ends it) and expires `refreshTtlSeconds` after the login it
   * descends from, however often it is renewed; or `maxSeconds` from now, when shorter (the
   * status page's session).
   */
  refreshToken(principal: Principal, authTime = Math.floor(this.now() / 1000), maxSeconds = Infinity): string {
    const ttl = Math.min(authTime + this.settings.refreshTtlSeconds - Math.floor(this.now() / 1000), maxSeconds);
    if (ttl <= 0) throw oci('UNAUTHORIZED', 'the login this refresh token descends from is too old: log in again');
    return this.#jwt.issue(
      principal.name,
      ttl,
      { typ: 'refresh', kind: principal.kind, gen: principal.generation, auth_time: authTime },
      this.now(),
    ).token;
  }

  /** The principal a refresh token names, as it is now (a disabled, deleted, re-created or re-passworded identity's tokens stop working), and when it logged in. */
  async fromRefresh(token: string): Promise<{ principal: Principal; authTime: number }> {
    let claims: Claims;
    try {
      claims = this.#jwt.verify(token, this.now());
    } catch (e) {
      throw oci('UNAUTHORIZED', `refresh token refused: ${(e as Error).message}`);
    }
    const p =
      claims.typ === 'refresh' && (claims.kind === 'user' || claims.kind === 'token')
        ? await this.identities.current(claims.kind, claims.sub)
        : undefined;
    if (!p || p.generation !== claims.gen || typeof claims.auth_time !== 'number') throw oci('UNAUTHORIZED', 'refresh token refused');
    return { principal: p, authTime: claims.auth_time };
  }
}

/** The actions a challenge asks for: a push or delete asks for pull as well (clients resolve before they write). */
function scopeActions(action: string): string {
  return action === 'pull' || action.startsWith('metadata_') ? action : `pull,${action}`;
}
