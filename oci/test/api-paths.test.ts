import assert from 'node:assert/strict';
import { apiPaths, apiPattern, queryString, type ApiPath } from '../src/api-paths.js';
import { digestOf } from '../src/digest.js';

const digest = digestOf('x');

/** Parameters for each path: a repository name with slashes wherever there is one. */
const samples: { [K in ApiPath]: Parameters<(typeof apiPaths)[K]> } = {
  base: [],
  blob: ['team/app', digest],
  blobData: ['team/app', digest],
  uploads: ['team/app'],
  upload: ['team/app', '6f1c-4a2e'],
  manifest: ['team/sub/app', 'v1.0'],
  tags: ['team/app'],
  referrers: ['app', digest],
  catalog: [],
  acrCatalog: [],
  acrTag: ['team/app', 'v1'],
  acrTags: ['team/app'],
  acrManifest: ['team/app', digest],
  acrManifests: ['team/app'],
  acrRepository: ['team/sub/app'],
  replication: [],
  routing: [],
  where: ['team/app', digest],
  metrics: [],
  health: [],
  gc: [],
  users: [],
  user: ['alice@example.com'],
  tokens: [],
  token: ['ci token'],
  oauthToken: [],
  oauthExchange: [],
  trustPolicy: [],
  trustTag: ['prod/app', 'v1'],
  trust: [],
  ui: [],
  uiSlash: [],
  uiScript: [],
  uiGrammar: [],
  uiSession: [],
  uiDom: [],
  uiMatrix: [],
  uiStyle: [],
  uiIcon: [],
};

/** What the router gives a handler: each capture, percent-decoded. */
function captured(key: ApiPath, path: string): string[] | undefined {
  return apiPattern(key).exec(path)?.slice(1).map(decodeURIComponent);
}

describe('api paths', () => {
  it("every builder's path matches its own pattern and gives its parameters back", () => {
    for (const key of Object.keys(samples) as ApiPath[]) {
      const params = samples[key] as string[];
      const path = (apiPaths[key] as (...p: string[]) => string)(...params);
      assert.deepEqual(captured(key, path), params, `${key}: ${path}`);
    }
  });

  it('writes names with their slashes and digests with their colon, encoding what a segment cannot hold', () => {
    assert.equal(apiPaths.blob('team/sub/app', digest), `/v2/team/sub/app/blobs/${digest}`);
    assert.equal(apiPaths.manifest('a', 'v1'), '/v2/a/manifests/v1');
    assert.equal(apiPaths.uploads('a'), '/v2/a/blobs/uploads/');
    assert.equal(apiPaths.base(), '/v2/');
    assert.equal(apiPaths.token('ci token'), '/georeg/v1/auth/tokens/ci%20token');
    assert.equal(apiPaths.user('a/b?c'), '/georeg/v1/auth/users/a%2Fb%3Fc');
  });

  it('matches the paths the routes always matched, and only those', () => {
    assert.ok(apiPattern('base').test('/v2') && apiPattern('base').test('/v2/'));
    assert.ok(apiPattern('uploads').test('/v2/a/blobs/uploads'));
    assert.ok(!apiPattern('uiScript').test('/georeg/ui/appxjs'));
    assert.ok(!apiPattern('ui').test('/georeg/ui/'));
    for (const [key, path] of [
      ['blob', '/v2//blobs/x'],
      ['blob', '/v2/a/blobs/'],
      ['manifest', '/v2/a/manifests/'],
      ['where', '/georeg/v1/where/a'],
      ['tags', '/v2/tags/list'],
      ['user', '/georeg/v1/auth/users/a/b'],
      ['catalog', '/v2/_catalog/'],
    ] as [ApiPath, string][]) {
      assert.equal(captured(key, path), undefined, `${key} ${path}`);
    }
  });

  it('refuses a parameter a URL would drop or fold away: empty, `.` or `..`', () => {
    for (const bad of ['', '.', '..', 'team/../app', 'team//app', '/app', 'app/']) {
      assert.throws(() => apiPaths.tags(bad), TypeError, bad);
    }
    assert.throws(() => apiPaths.blob('app', '..'), TypeError);
    assert.throws(() => apiPaths.manifest('app', ''), TypeError);
  });

  it('writes a query string of the parameters that are set', () => {
    assert.equal(queryString({}), '');
    assert.equal(queryString({ n: undefined }), '');
    assert.equal(queryString({ n: 10, last: 'team/app' }), '?n=10&last=team%2Fapp');
    assert.equal(queryString({ digest }), `?digest=${digest}`);
    assert.equal(queryString({ artifactType: 'application/vnd.a+json' }), '?artifactType=application%2Fvnd.a%2Bjson');
    assert.equal(queryString({ dryRun: true }), '?dryRun=true');
  });
});
