import { Lru } from '../lru.js';
import { createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

/** A problem with a presented token: malformed, bad signature, wrong issuer or audience, expired. */
export class TokenError extends Error {
  override name = 'TokenError';
}

export interface Claims {
  iss: string;
  aud: string;
  sub: string;
  /** Seconds since epoch. */
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  [claim: string]: unknown;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const VERIFIED_TOKENS = 10_000;
/** Clock skew tolerated between regions, seconds. */
export const LEEWAY = 30;

/**
 * ES256 JSON Web Tokens signed with the registry's key: every region holding
 * the same key accepts what any region issued. Verification checks the
 * algorithm (never `none`), signature, issuer, audience and time window.
 */
export class JwtSigner {
  readonly #key: KeyObject;
  readonly #public: KeyObject;
  /** Tokens whose signature checked out, with their claims (frozen: callers share them). */
  readonly #verified = new Lru<string, Claims>(VERIFIED_TOKENS);

  constructor(
    privatePem: string,
    readonly issuer: string,
    readonly audience: string,
  ) {
    this.#key = createPrivateKey(privatePem);
    if (this.#key.asymmetricKeyType !== 'ec' || this.#key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new TokenError('the token signing key must be ECDSA P-256');
    this.#public = createPublicKey(this.#key);
  }

  issue(subject: string, ttlSeconds: number, extra: Record<string, unknown>, now = Date.now()): { token: string; claims: Claims } {
    const iat = Math.floor(now / 1000);
    const claims: Claims = {
      iss: this.issuer,
      aud: this.audience,
      sub: subject,
      iat,
      nbf: iat,
      exp: iat + ttlSeconds,
      jti: randomUUID(),
      ...extra,
    };
    const head = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}`;
    const sig = sign('sha256', Buffer.from(head), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return { token: `${head}.${sig.toString('base64url')}`, claims };
  }

  /** The claims of a valid token; `leeway` seconds of clock skew are tolerated on its expiry. */
  verify(token: string, now = Date.now(), leeway = LEEWAY): Claims {
    // A client sends the same token with every request: its signature is checked once, its time window every time.
    const claims = this.#verified.get(token) ?? this.#checkSignature(token);
    this.#verified.set(token, claims);
    const t = now / 1000;
    if (typeof claims.exp !== 'number' || t > claims.exp + leeway) throw new TokenError('token expired');
    if (typeof claims.nbf !== 'number' || t + LEEWAY < claims.nbf) throw new TokenError('token not valid yet');
    return claims;
  }

  /** The claims of a token signed by this key, for this issuer and audience. */
  #checkSignature(token: string): Claims {
    const parts = token.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) throw new TokenError('malformed token');
    const [head, body, sig] = parts as [string, string, string];
    let header: { alg?: unknown };
    let claims: Claims;
    try {
      header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: unknown };
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claims;
    } catch {
      throw new TokenError('malformed token');
    }
    if (header.alg !== 'ES256') throw new TokenError('unsupported token algorithm');
    if (
      !verify('sha256', Buffer.from(`${head}.${body}`), { key: this.#public, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))
    ) {
      throw new TokenError('token signature invalid');
    }
    if (claims.iss !== this.issuer) throw new TokenError('token from another issuer');
    if (claims.aud !== this.audience) throw new TokenError('token for another service');
    if (typeof claims.sub !== 'string') throw new TokenError('token without subject');
    return Object.freeze(claims);
  }
}
