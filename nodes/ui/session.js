// @ts-check
/**
 * Signing in on the status page of a node with authentication on. The name and password (or a
 * token's name and secret) go once to this node's token endpoint (POST /oauth2/token,
 * grant_type=password) and are not kept: what is kept, in this tab's sessionStorage (gone when
 * the tab closes), is the refresh token it answers with, valid an hour for this client (its
 * client_id), whatever the node's auth.refreshTtlSeconds; each search trades it for an access
 * token for that one repository, valid minutes. Every request goes to this node only (URLs
 * relative to the page). Signing out forgets the token.
 */

const KEY = 'georeg.session';
/** The token endpoint, relative to /georeg/ui. */
const TOKEN_URL = '../oauth2/token';

/** @typedef {{ user: string, refresh: string }} Session */

/** @returns {Session | undefined} */
export const currentSession = () => {
  try {
    const s = /** @type {Partial<Session> | null} */ (JSON.parse(sessionStorage.getItem(KEY) ?? 'null'));
    return typeof s?.user === 'string' && typeof s.refresh === 'string' ? { user: s.user, refresh: s.refresh } : undefined;
  } catch {
    return undefined;
  }
};

export const signOut = () => sessionStorage.removeItem(KEY);

/**
 * One form POST to the token endpoint; its JSON, or an Error saying why not.
 * @param {Record<string, string>} form
 * @returns {Promise<{ access_token?: string, refresh_token?: string }>}
 */
const token = async (form) => {
  const res = await fetch(TOKEN_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams(form),
    cache: 'no-store',
    credentials: 'omit',
  }).catch(() => {
    throw new Error('the node does not answer');
  });
  const body = await res.json().catch(() => undefined);
  if (res.ok && typeof body === 'object' && body !== null) return body;
  const first = Array.isArray(body?.errors) ? body.errors[0] : undefined;
  const why = typeof first?.message === 'string' ? first.message : res.statusText || 'error';
  throw Object.assign(new Error(`HTTP ${res.status}: ${why}`), { status: res.status });
};

/**
 * Sign in; rejects with an Error saying why not (wrong credentials: HTTP 401).
 * @param {string} user
 * @param {string} password
 */
export const signIn = async (user, password) => {
  // The node keeps this client's refresh token short (an hour): the tab holds it, not the password.
  const body = await token({ grant_type: 'password', client_id: 'georeg-status-page', username: user, password, scope: '' });
  if (typeof body.refresh_token !== 'string') throw new Error('the node answered without a token');
  sessionStorage.setItem(KEY, JSON.stringify({ user, refresh: body.refresh_token }));
};

/**
 * The Authorization header for pulling `repository` ({} when signed out). A refresh token the
 * node no longer takes (expired, the user disabled) signs out and rejects saying so.
 * @param {string} repository
 * @returns {Promise<Record<string, string>>}
 */
export const authFor = async (repository) => {
  const s = currentSession();
  if (!s) return {};
  try {
    const body = await token({ grant_type: 'refresh_token', refresh_token: s.refresh, scope: `repository:${repository}:pull` });
    return typeof body.access_token === 'string' ? { Authorization: `Bearer ${body.access_token}` } : {};
  } catch (e) {
    if (/** @type {{ status?: number }} */ (e).status === 401) {
      signOut();
      throw new Error('your sign-in is no longer valid; sign in again');
    }
    throw e;
  }
};
