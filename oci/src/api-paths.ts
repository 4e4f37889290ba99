/**
 * THE table of georeg's HTTP API paths, for the node's routes and every client alike (as
 * distribution's urls.go is for its handlers and client). `<name>` is a repository name (its `/`
 * kept), any other `<param>` one path segment; a trailing `/?` is a slash the pattern also
 * matches without (the builder writes it).
 */
const API = {
  base: '/v2/?',
  blob: '/v2/<name>/blobs/<digest>',
  blobData: '/georeg/v1/data/<name>/blobs/<digest>',
  uploads: '/v2/<name>/blobs/uploads/?',
  upload: '/v2/<name>/blobs/uploads/<id>',
  manifest: '/v2/<name>/manifests/<reference>',
  tags: '/v2/<name>/tags/list',
  referrers: '/v2/<name>/referrers/<digest>',
  catalog: '/v2/_catalog',
  acrCatalog: '/acr/v1/_catalog',
  acrTag: '/acr/v1/<name>/_tags/<tag>',
  acrTags: '/acr/v1/<name>/_tags',
  acrManifest: '/acr/v1/<name>/_manifests/<digest>',
  acrManifests: '/acr/v1/<name>/_manifests',
  acrRepository: '/acr/v1/<name>',
  replication: '/georeg/v1/replication',
  routing: '/georeg/v1/routing',
  where: '/georeg/v1/where/<name>/<reference>',
  metrics: '/metrics',
  health: '/georeg/v1/health',
  gc: '/georeg/v1/gc',
  users: '/georeg/v1/auth/users',
  user: '/georeg/v1/auth/users/<user>',
  tokens: '/georeg/v1/auth/tokens',
  token: '/georeg/v1/auth/tokens/<token>',
  oauthToken: '/oauth2/token',
  oauthExchange: '/oauth2/exchange',
  trustPolicy: '/georeg/v1/trust/policy',
  trustTag: '/georeg/v1/trust/tags/<name>/<tag>',
  trust: '/georeg/v1/trust',
  ui: '/georeg/ui',
  uiSlash: '/georeg/ui/',
  uiScript: '/georeg/ui/app.js',
  uiGrammar: '/georeg/ui/grammar.js',
  uiSession: '/georeg/ui/session.js',
  uiDom: '/georeg/ui/dom.js',
  uiMatrix: '/georeg/ui/matrix.js',
  uiStyle: '/georeg/ui/app.css',
  uiIcon: '/georeg/ui/favicon.svg',
} as const;

export type ApiPath = keyof typeof API;

/** One string per `<param>` of a template. */
type Params<T extends string> = T extends `${string}<${string}>${infer Rest}` ? [string, ...Params<Rest>] : [];

/** `<name>` or `<digest>` and the text between them: `['/v2/', '<name>', '/blobs/', '<digest>', '']`. */
const parts = (key: ApiPath): string[] => API[key].replace(/\/\?$/, '/').split(/(<[a-z]+>)/);

/** A path segment percent-encoded, `:` and `@` kept (RFC 3986 pchar): digests read as they are. */
const segment = (s: string): string => encodeURIComponent(s).replace(/%3A/gi, ':').replace(/%40/gi, '@');

/** Refuses what a URL would drop or fold away (`.`, `..`, an empty segment): the path would reach another route. */
function encode(param: string, value: string): string {
  const segments = param === '<name>' ? value.split('/') : [value];
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new TypeError(`not a path parameter ${param}: ${JSON.stringify(value)}`);
  return segments.map(segment).join('/');
}

function build(key: ApiPath, params: string[]): string {
  let i = 0;
  return parts(key)
    .map((p) => (p.startsWith('<') ? encode(p, params[i++] ?? '') : p))
    .join('');
}

/** The path builders: `apiPaths.blob('team/app', 'sha256:…')` is `/v2/team/app/blobs/sha256:…`. */
export const apiPaths = Object.fromEntries(
  (Object.keys(API) as ApiPath[]).map((key) => [key, (...params: string[]) => build(key, params)]),
) as { [K in ApiPath]: (...params: Params<(typeof API)[K]>) => string };

/** The RegExp the router matches a path with: one capture group per parameter, in order (`<name>` may hold `/`). */
export function apiPattern(key: ApiPath): RegExp {
  const source = API[key]
    .split(/(<[a-z]+>)/)
    .map((p) => (p === '<name>' ? '(.+)' : p.startsWith('<') ? '([^/]+)' : p.replace(/[.*+^$()[\]{}|\\]/g, '\\$&').replace(/\//g, '\\/')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** `?n=10&last=a%2Fb` from the parameters that are set ('' when none is); a digest keeps its colon. */
export function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const set = Object.entries(params).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
  return set.length === 0 ? '' : `?${set.map(([k, v]) => `${k}=${segment(String(v))}`).join('&')}`;
}
