import { LOGIN_HINT, type Credentials } from './credentials.js';
import { RegistryError } from './registry-error.js';

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge. */
export function parseChallenge(header: string | null): Record<string, string> | undefined {
  if (!header?.startsWith('Bearer ')) return undefined;
  const params: Record<string, string> = {};
  for (const [, k, v] of header.slice(7).matchAll(/([a-z_]+)="([^"]*)"/g)) params[k as string] = v as string;
  return params.realm ? params : undefined;
}

/**
 * The Docker registry token flow, client side: answer a 401 challenge by
 * asking the realm for a token (with Basic credentials when there are any,
 * anonymously otherwise) for the challenge's scope, then retry with it.
 */
export class TokenAuth {
  /** The token in use: the last one obtained, for every scope asked so far. */
  #bearer?: string;
  /**
   * Every scope a challenge named so far (a command works on a repository or two): each token is
   * asked for all of them, so requests in flight at once (a pull's HEAD, an upload's PUT) never
   * replace a token with one that grants less.
   */
  readonly #scopes = new Set<string>();

  constructor(
    private readonly credentials?: Credentials,
    /** The registry's base URL: credentials go only to a realm of the same host, never downgraded to plain HTTP. */
    private readonly registry?: string,
    /** How the token is asked for (the registry client's transport: fetch, or one trusting a CA). */
    private readonly get: (url: URL, headers: Record<string, string>) => Promise<Response> = (url, headers) => fetch(url, { headers }),
  ) {}

  header(): Record<string, string> {
    return this.#bearer ? { Authorization: `Bearer ${this.#bearer}` } : {};
  }

  /** After a 401: fetch a token for what the challenge asks; false when the answer was no challenge. */
  async answer(challenge: string | null): Promise<boolean> {
    const c = parseChallenge(challenge);
    if (!c) return false;
    const url = new URL(c.realm as string);
    if (c.service) url.searchParams.set('service', c.service);
    if (c.scope) this.#scopes.add(c.scope);
    for (const scope of this.#scopes) url.searchParams.append('scope', scope);
    const origin = this.registry ? new URL(this.registry) : undefined;
    const trusted = !origin || (url.hostname === origin.hostname && !(origin.protocol === 'https:' && url.protocol !== 'https:'));
    if (this.credentials && !trusted)
      throw new RegistryError(`the registry sends credentials to ${url.origin}, another host or a downgrade to plain HTTP: refused`);
    const headers: Record<string, string> = this.credentials
      ? { Authorization: `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` }
      : {};
    let res: Response;
    try {
      res = await this.get(url, headers);
    } catch (e) {
      throw new RegistryError(`cannot reach the token service ${url.origin}${url.pathname}: ${(e as Error).message}`);
    }
    if (!res.ok)
      throw new RegistryError(
        `token service ${url.pathname}: ${res.status} ${(await res.text()).slice(0, 300)}${this.credentials ? '' : ` (${LOGIN_HINT})`}`,
        res.status,
      );
    const body = (await res.json()) as { token?: string; access_token?: string };
    this.#bearer = body.token ?? body.access_token;
    return this.#bearer !== undefined;
  }
}
