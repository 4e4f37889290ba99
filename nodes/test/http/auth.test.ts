import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushBlob, pushImage, type Res } from '../support/client.js';
import { JwtSigner } from '../../src/auth/jwt.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A node with authentication on: `public/**` anonymously pullable. */
async function authNode(extra: Record<string, unknown> = {}): Promise<TestNode> {
  process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
  try {
    return await startTestNode({ auth: { enabled: true, anonymousPull: 'public/**', ...extra } });
  } finally {
    delete process.env.GEOREG_ADMIN_PASSWORD;
  }
}

describe('authentication and authorization', function () {
  this.timeout(30_000);
  let node: TestNode;
  let base: string;

  async function token(scopes: string[], auth?: string): Promise<string> {
    const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
    const res = await http('GET', `${base}/oauth2/token?service=georeg&${q}`, auth ? { headers: { Authorization: auth } } : {});
    assert.equal(res.status, 200, res.body.toString());
    return res.json<{ token: string }>().token;
  }
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
  const adminToken = () =>
    token(
      ['repository:team/app:pull,push,delete', 'repository:team/other:pull,push', 'registry:catalog:*'],
      basic('admin', ADMIN_PASSWORD),
    );

  async function makeToken(name: string, scopes: unknown, expiresInSeconds = 0): Promise<string> {
    const res = await http('POST', `${base}/georeg/v1/auth/tokens`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name, scopes, expiresInSeconds }),
    });
    assert.equal(res.status, 201, res.body.toString());
    return res.json<{ secret: string }>().secret;
  }

  /** Push as the admin (through the token flow) an image into `repo`. */
  /** Push a small image into `repo`, with `t` if given (a token for it), else a token of its own. */
  async function seed(repo: string, t?: string): Promise<void> {
    t ??= await token([`repository:${repo}:pull,push`], basic('admin', ADMIN_PASSWORD));
    const cfg = Buffer.from('{}');
    for (const blob of [cfg]) {
      const r = await http(
        'POST',
        `${base}/v2/${repo}/blobs/uploads/?digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`,
        { headers: bearer(t), body: blob },
      );
      assert.equal(r.status, 201, r.body.toString());
    }
    const m = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      },
      layers: [],
    });
    const put = await http('PUT', `${base}/v2/${repo}/manifests/v1`, {
      headers: { ...bearer(t), 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: m,
    });
    assert.equal(put.status, 201, put.body.toString());
  }

  function challenge(res: Res, scope?: string): void {
    expectError(res, 401, 'UNAUTHORIZED');
    const h = res.header('www-authenticate') ?? '';
    assert.match(h, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/oauth2\/token",service="georeg"/);
    if (scope) assert.match(h, new RegExp(`scope="${scope.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
  }

  before(async () => {
    node = await authNode();
    base = node.url;
    await seed('team/app');
    await seed('team/other');
    await seed('public/base');
    await seed('secret/vault');
  });
  after(() => node.close());

  it('challenges an anonymous caller with a Docker token challenge, every value quoted', async () => {
    challenge(await http('GET', `${base}/v2/team/app/manifests/v1`), 'repository:team/app:pull');
    challenge(await http('PUT', `${base}/v2/team/app/manifests/v2`, { body: '{}' }), 'repository:team/app:pull,push');
    // With anonymous pull on somewhere, the anonymous catalog lists exactly those repositories.
    assert.deepEqual((await http('GET', `${base}/v2/_catalog`)).json<{ repositories: string[] }>().repositories, ['public/base']);
  });

  it('trades credentials for a short-lived token, and serves with it', async () => {
    const t = await adminToken();
    assert.equal((await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(t) })).status, 200);
    assert.equal((await http('GET', `${base}/v2/`, { headers: bearer(t) })).status, 200);
    expectError(
      await http('GET', `${base}/oauth2/token?service=georeg`, { headers: { Authorization: basic('admin', 'wrong password!') } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('refuses a token for repository A on repository B', async () => {
    const t = await token(['repository:team/app:pull'], basic('admin', ADMIN_PASSWORD));
    const res = await http('GET', `${base}/v2/team/other/manifests/v1`, { headers: bearer(t) });
    challenge(res, 'repository:team/other:pull');
    assert.match(res.header('www-authenticate') ?? '', /error="insufficient_scope"/);
  });

  it('refuses an expired token and one signed by another key', async () => {
    const pem = await readFile(join(node.dir, 'auth-signing.key'), 'utf8');
    const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const expired = new JwtSigner(pem, 'georeg', 'georeg').issue(
      'admin',
      60,
      { typ: 'access', kind: 'user', access },
      Date.now() - 3600_000,
    ).token;
    challenge(await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(expired) }));
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forged = new JwtSigner(otherKey, 'georeg', 'georeg').issue('admin', 60, { typ: 'access', kind: 'user', adm: true, access }).token;
    challenge(await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(forged) }));
    const [h, b] = forged.split('.');
    challenge(await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(`${h}.${b}.`) }));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${b}.x`;
    challenge(await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(none) }));
  });

  it('grants a scoped token no more than its scope map, however much it asks for', async () => {
    const secret = await makeToken('ci-pull', [{ repositories: ['team/**'], actions: ['pull'] }]);
    const t = await token(['repository:team/app:pull,push,delete', 'repository:secret/vault:pull'], basic('ci-pull', secret));
    const claims = JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as {
      access: { name: string; actions: string[] }[];
    };
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    assert.equal((await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(t) })).status, 200);
    challenge(await http('POST', `${base}/v2/team/app/blobs/uploads/`, { headers: bearer(t) }), 'repository:team/app:pull,push');
    challenge(await http('DELETE', `${base}/v2/team/app/manifests/v1`, { headers: bearer(t) }));
    challenge(await http('GET', `${base}/v2/secret/vault/manifests/v1`, { headers: bearer(t) }));
  });

  it('takes Basic credentials on every route as the token endpoint would: what the principal may do, DENIED otherwise', async () => {
    const secret = await makeToken('basic-reader', [{ repositories: ['team/**'], actions: ['pull'] }]);
    const as = (name: string, password: string) => ({ headers: { Authorization: basic(name, password) } });
    assert.equal((await http('GET', `${base}/georeg/v1/trust/policy`, as('admin', ADMIN_PASSWORD))).status, 200, 'the policy GET');
    assert.equal((await http('GET', `${base}/georeg/v1/trust/policy`, as('basic-reader', secret))).status, 200);
    assert.equal((await http('GET', `${base}/v2/team/app/manifests/v1`, as('basic-reader', secret))).status, 200, 'a pull');
    assert.equal((await http('GET', `${base}/georeg/v1/where/team/app/v1`, as('basic-reader', secret))).status, 200, 'where');
    expectError(await http('GET', `${base}/v2/secret/vault/manifests/v1`, as('basic-reader', secret)), 403, 'DENIED');
    expectError(await http('DELETE', `${base}/v2/team/app/manifests/v1`, as('basic-reader', secret)), 403, 'DENIED');
    expectError(await http('GET', `${base}/v2/team/app/manifests/v1`, as('basic-reader', 'wrong secret!')), 401, 'UNAUTHORIZED');
  });

  it('lists in the catalog only the repositories the caller may see, and no hidden name in the Link', async () => {
    const secret = await makeToken('team-reader', [{ repositories: ['team/**'], actions: ['pull'] }]);
    const t = await token(['registry:catalog:*'], basic('team-reader', secret));
    const all = await http('GET', `${base}/v2/_catalog`, { headers: bearer(t) });
    assert.deepEqual(all.json<{ repositories: string[] }>().repositories, ['public/base', 'team/app', 'team/other']);
    const page = await http('GET', `${base}/v2/_catalog?n=1&last=public/base`, { headers: bearer(t) });
    assert.deepEqual(page.json<{ repositories: string[] }>().repositories, ['team/app']);
    assert.doesNotMatch(page.header('link') ?? '', /secret/);
    // Walking one at a time follows every Link and sees every visible repository once.
    const walked: string[] = [];
    for (let path: string | undefined = '/v2/_catalog?n=1'; path !== undefined;) {
      const res = await http('GET', `${base}${path}`, { headers: bearer(t) });
      walked.push(...res.json<{ repositories: string[] }>().repositories);
      path = /^<([^>]+)>; rel="next"$/.exec(res.header('link') ?? '')?.[1];
      assert.ok(walked.length <= 3, `the walk did not end: ${walked.join(', ')}`);
    }
    assert.deepEqual(walked, ['public/base', 'team/app', 'team/other']);
    // A `last` at or past the end answers an empty page at once (it used to loop forever).
    for (const last of ['team/other', 'zzz']) {
      const end = await http('GET', `${base}/v2/_catalog?n=1&last=${last}`, { headers: bearer(t) });
      assert.deepEqual(end.json<{ repositories: string[] }>().repositories, []);
      assert.equal(end.header('link'), undefined);
    }
    assert.deepEqual(
      (await http('GET', `${base}/v2/_catalog?last=zzz`, { headers: bearer(t) })).json<{ repositories: string[] }>().repositories,
      [],
    );
  });

  it('pages the catalog exactly across store batches with long hidden runs, at every page size', async function () {
    this.timeout(60_000);
    const names = Array.from({ length: 250 }, (_, i) => `grid/r${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      const batch = names.slice(i, i + 50);
      const t = await token(
        batch.map((n) => `repository:${n}:pull,push`),
        basic('admin', ADMIN_PASSWORD),
      );
      for (const n of batch) await seed(n, t);
    }
    // Visible: r1* (100 in a row) and every *7 (one in ten); hidden: the runs around them, each longer
    // than the store's smallest batch, and every repository outside grid/ but public/base (anyone's).
    const secret = await makeToken('grid-reader', [{ repositories: ['grid/r1*', 'grid/*7'], actions: ['pull'] }]);
    const t = await token(['registry:catalog:*'], basic('grid-reader', secret));
    const visible = [...names.filter((n) => n.startsWith('grid/r1') || n.endsWith('7')), 'public/base'];
    assert.equal(visible.length, 116);
    for (const n of [1, 7, 99, 100, 101, 115, 116, 117, 1000]) {
      const walked: string[] = [];
      for (let path: string | undefined = `/v2/_catalog?n=${n}`; path !== undefined;) {
        const res = await http('GET', `${base}${path}`, { headers: bearer(t) });
        const page = res.json<{ repositories: string[] }>().repositories;
        assert.ok(page.length <= n, `n=${n}: a page of ${page.length}`);
        walked.push(...page);
        path = /^<([^>]+)>; rel="next"$/.exec(res.header('link') ?? '')?.[1];
        assert.ok(walked.length <= visible.length, `n=${n}: the walk did not end: ${walked.join(' ')}`);
      }
      assert.deepEqual(walked, visible, `n=${n}`);
    }
    const whole = await http('GET', `${base}/v2/_catalog`, { headers: bearer(t) });
    assert.deepEqual(whole.json<{ repositories: string[] }>().repositories, visible);
  });

  it('rejects dot-dot names before anything else', async () => {
    const t = await adminToken();
    expectError(await http('GET', `${base}/v2/team/../secret/vault/manifests/v1`, { headers: bearer(t) }), 400, 'NAME_INVALID');
    expectError(await http('GET', `${base}/v2/team/%2e%2e/secret/vault/manifests/v1`, { headers: bearer(t) }), 400, 'NAME_INVALID');
  });

  it('serves anonymous pulls where allowed, and nothing else anonymously', async () => {
    assert.equal((await http('GET', `${base}/v2/public/base/manifests/v1`)).status, 200);
    const t = await token(['repository:public/base:pull,push', 'repository:team/app:pull']);
    const claims = JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as { access: unknown[] };
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    challenge(await http('POST', `${base}/v2/public/base/blobs/uploads/`));
  });

  it('mounts only from a repository the caller may pull (otherwise a plain upload starts)', async () => {
    const secret = await makeToken('pusher', [{ repositories: ['team/app'], actions: ['pull', 'push'] }]);
    const t = await token(['repository:team/app:pull,push', 'repository:secret/vault:pull'], basic('pusher', secret));
    const digest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
    const res = await http('POST', `${base}/v2/team/app/blobs/uploads/?mount=${digest}&from=secret/vault`, { headers: bearer(t) });
    assert.equal(res.status, 202, 'no mount from a repository the token cannot pull');
  });

  it('administers users and tokens: admins only, secrets shown once, disabled tokens refused', async () => {
    const secret = await makeToken('temp', [{ repositories: ['team/**'], actions: ['pull'] }]);
    const listed = await http('GET', `${base}/georeg/v1/auth/tokens`, { headers: { Authorization: basic('admin', ADMIN_PASSWORD) } });
    assert.doesNotMatch(listed.body.toString(), new RegExp(secret));
    const user = await http('POST', `${base}/georeg/v1/auth/users`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name: 'dev', password: 'a long enough password' }),
    });
    assert.equal(user.status, 201, user.body.toString());
    expectError(
      await http('GET', `${base}/georeg/v1/auth/users`, { headers: { Authorization: basic('dev', 'a long enough password') } }),
      403,
      'DENIED',
    );
    expectError(await http('GET', `${base}/georeg/v1/auth/users`, { headers: { Authorization: basic('temp', secret) } }), 403, 'DENIED');
    assert.equal(
      (
        await http('PATCH', `${base}/georeg/v1/auth/tokens/temp`, {
          headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
          body: '{"disabled":true}',
        })
      ).status,
      200,
    );
    expectError(
      await http('GET', `${base}/oauth2/token?service=georeg`, { headers: { Authorization: basic('temp', secret) } }),
      401,
      'UNAUTHORIZED',
    );
    expectError(
      await http('POST', `${base}/georeg/v1/auth/tokens`, {
        headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
        body: '{"name":"x","scopes":[{"repositories":["a"],"actions":["fly"]}]}',
      }),
      400,
      'AUTH_INVALID',
    );
  });

  it('answers bad names and lifetimes in the admin API with 4xx, and stores nothing for them', async () => {
    const admin = { Authorization: basic('admin', ADMIN_PASSWORD) };
    const scopes = [{ repositories: ['team/**'], actions: ['pull'] }];
    for (const expiresInSeconds of [1e13, 3.5, -1, '60']) {
      const res = await http('POST', `${base}/georeg/v1/auth/tokens`, {
        headers: admin,
        body: JSON.stringify({ name: 'long-lived', scopes, expiresInSeconds }),
      });
      expectError(res, 400, 'AUTH_INVALID');
    }
    // Nothing half-made: the name is free, and the list (which once failed on such a token) answers.
    assert.equal((await http('GET', `${base}/georeg/v1/auth/tokens`, { headers: admin })).status, 200);
    expectError(await http('DELETE', `${base}/georeg/v1/auth/tokens/long-lived`, { headers: admin }), 404, 'AUTH_UNKNOWN');
    // One stored before lifetimes were bounded (here: replicated from an older region) lists, and goes.
    const old = { name: 'long-lived', secret: Buffer.alloc(32).toString('base64'), scopes, disabled: false, expires: 1e20, created: 0 };
    assert.equal(
      await node.registry.identities.applyReplicated('auth/token/long-lived', JSON.stringify(old), {
        wallMs: Date.now(),
        logical: 0,
        region: 'zz',
      }),
      true,
    );
    const listed = await http('GET', `${base}/georeg/v1/auth/tokens`, { headers: admin });
    assert.equal(listed.status, 200, listed.body.toString());
    assert.ok(listed.json<{ tokens: { name: string }[] }>().tokens.some((t) => t.name === 'long-lived'));
    assert.equal((await http('DELETE', `${base}/georeg/v1/auth/tokens/long-lived`, { headers: admin })).status, 204);
    // Names no record can have (the metadata key separator among them) are unknown, not a 500.
    for (const path of ['users/%21x', 'tokens/a%21b', 'users/UPPER', 'tokens/a%2Fb']) {
      expectError(
        await http('PATCH', `${base}/georeg/v1/auth/${path}`, { headers: admin, body: '{"disabled":true}' }),
        404,
        'AUTH_UNKNOWN',
      );
      expectError(await http('DELETE', `${base}/georeg/v1/auth/${path}`, { headers: admin }), 404, 'AUTH_UNKNOWN');
    }
  });

  it("keeps the status page's refresh token to an hour (client_id georeg-status-page), others to auth.refreshTtlSeconds", async () => {
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const lifetime = async (extra: string): Promise<number> => {
      const res = await http('POST', `${base}/oauth2/token`, {
        headers: form,
        body: `grant_type=password&service=georeg&username=admin&password=${encodeURIComponent(ADMIN_PASSWORD)}${extra}`,
      });
      assert.equal(res.status, 200, res.body.toString());
      const claims = JSON.parse(
        Buffer.from(res.json<{ refresh_token: string }>().refresh_token.split('.')[1] as string, 'base64url').toString(),
      );
      return (claims as { exp: number; iat: number }).exp - (claims as { iat: number }).iat;
    };
    assert.equal(await lifetime('&client_id=georeg-status-page'), 3600);
    assert.ok((await lifetime('&client_id=docker')) > 3600);
  });

  it('issues refresh tokens and exchanges them as the Azure SDK does', async () => {
    const res = await http('GET', `${base}/oauth2/token?service=georeg&offline_token=true`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
    });
    const refresh = res.json<{ refresh_token: string }>().refresh_token;
    assert.ok(refresh);
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const exchanged = await http('POST', `${base}/oauth2/exchange?api-version=2021-07-01`, {
      headers: form,
      body: `grant_type=access_token&service=georeg&access_token=${refresh}`,
    });
    assert.equal(exchanged.status, 200, exchanged.body.toString());
    const r2 = exchanged.json<{ refresh_token: string }>().refresh_token;
    const access = await http('POST', `${base}/oauth2/token?api-version=2021-07-01`, {
      headers: form,
      body: `grant_type=refresh_token&service=georeg&scope=${encodeURIComponent('repository:team/app:pull')}&refresh_token=${r2}`,
    });
    assert.equal(access.status, 200);
    const t = access.json<{ access_token: string }>().access_token;
    assert.equal((await http('GET', `${base}/v2/team/app/manifests/v1`, { headers: bearer(t) })).status, 200);
    expectError(
      await http('POST', `${base}/oauth2/token`, { headers: form, body: `grant_type=refresh_token&service=georeg&refresh_token=${t}` }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('refuses a replicated identity that is not well formed (absurd scrypt cost, bad scopes, wrong key)', async () => {
    const ids = node.registry.identities;
    const at = { wallMs: Date.now() + 60_000, logical: 0, region: 'zz' };
    const salt = Buffer.alloc(16).toString('base64');
    const hash = Buffer.alloc(32).toString('base64');
    const user = (password: string) => JSON.stringify({ name: 'evil', password, admin: true, disabled: false, created: 0 });
    assert.equal(await ids.applyReplicated('auth/user/evil', user(`scrypt$${2 ** 30}$8$1$${salt}$${hash}`), at), false);
    assert.equal(await ids.applyReplicated('auth/user/evil', user('plaintext'), at), false);
    assert.equal(
      await ids.applyReplicated(
        'auth/token/evil',
        JSON.stringify({ name: 'evil', secret: hash, scopes: [{ repositories: ['**'], actions: ['own'] }], disabled: false, expires: 0 }),
        at,
      ),
      false,
    );
    assert.equal(
      await ids.applyReplicated('auth/user/other', user(`scrypt$${2 ** 15}$8$1$${salt}$${hash}`), at),
      false,
      'the key must name the record',
    );
    assert.equal(await ids.login('evil', 'anything'), undefined);
  });

  it('ends refresh tokens when the password changes, and keeps renewed ones tied to the original login', async () => {
    await http('POST', `${base}/georeg/v1/auth/users`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name: 'bob', password: 'bobs first password' }),
    });
    const res = await http('GET', `${base}/oauth2/token?service=georeg&offline_token=true`, {
      headers: { Authorization: basic('bob', 'bobs first password') },
    });
    const refresh = res.json<{ refresh_token: string }>().refresh_token;
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const renewed = await http('POST', `${base}/oauth2/exchange`, {
      headers: form,
      body: `grant_type=access_token&service=georeg&access_token=${refresh}`,
    });
    const claims = (t: string) =>
      JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as { exp: number; auth_time: number };
    const r2 = renewed.json<{ refresh_token: string }>().refresh_token;
    assert.equal(claims(r2).auth_time, claims(refresh).auth_time);
    assert.ok(claims(r2).exp <= claims(refresh).exp);
    assert.equal(
      (
        await http('PATCH', `${base}/georeg/v1/auth/users/bob`, {
          headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
          body: '{"password":"bobs second password"}',
        })
      ).status,
      200,
    );
    for (const t of [refresh, r2])
      expectError(
        await http('POST', `${base}/oauth2/exchange`, { headers: form, body: `grant_type=access_token&service=georeg&access_token=${t}` }),
        401,
        'UNAUTHORIZED',
      );
  });

  it('an administrator demoted since their token was issued is refused by the admin API', async () => {
    await http('POST', `${base}/georeg/v1/auth/users`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name: 'ops', password: 'the ops password', admin: true }),
    });
    const t = await token([], basic('ops', 'the ops password'));
    assert.equal((await http('GET', `${base}/georeg/v1/auth/users`, { headers: bearer(t) })).status, 200);
    await http('PATCH', `${base}/georeg/v1/auth/users/ops`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: '{"admin":false}',
    });
    expectError(await http('GET', `${base}/georeg/v1/auth/users`, { headers: bearer(t) }), 403, 'DENIED');
  });

  it('refuses changes from a peer stamped far ahead of this region, and a user name taken by a token', async () => {
    const ahead = { wallMs: Date.now() + 3600_000, logical: 0, region: 'zz' };
    const salt = Buffer.alloc(16).toString('base64');
    const hash = Buffer.alloc(32).toString('base64');
    assert.equal(
      await node.registry.identities.applyReplicated(
        'auth/user/future',
        JSON.stringify({ name: 'future', password: `scrypt$${2 ** 15}$8$1$${salt}$${hash}`, admin: true, disabled: false, created: 0 }),
        ahead,
      ),
      false,
    );
    assert.equal(await node.registry.policies.applyReplicated(JSON.stringify({ keys: [], policies: [] }), ahead), false);
    await makeToken('shared-name', [{ repositories: ['x'], actions: ['pull'] }]);
    expectError(
      await http('POST', `${base}/georeg/v1/auth/users`, {
        headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
        body: JSON.stringify({ name: 'shared-name', password: 'some long password' }),
      }),
      400,
      'AUTH_INVALID',
    );
  });
});

describe("failed logins (each test on a node of its own: the limit locks out the test client's address)", function () {
  this.timeout(30_000);
  let node: TestNode;
  let base: string;
  beforeEach(async () => {
    node = await authNode();
    base = node.url;
  });
  afterEach(() => node.close());

  it('checks no more of a burst of concurrent guesses than the limit; the rest wait, then are refused', async () => {
    await http('POST', `${base}/georeg/v1/auth/users`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name: 'burst', password: 'the burst password' }),
    });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        http('GET', `${base}/oauth2/token?service=georeg`, { headers: { Authorization: basic('burst', `guess ${i}`) } }),
      ),
    );
    const checked = answers.filter((r) => r.status === 401).length;
    assert.ok(checked <= 10, `${checked} guesses were checked`);
    assert.equal(answers.filter((r) => r.status === 429).length, 40 - checked);
  });

  it('slows down brute force: after 10 failures, even the right password waits', async () => {
    await http('POST', `${base}/georeg/v1/auth/users`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      body: JSON.stringify({ name: 'victim', password: 'the right password' }),
    });
    for (let i = 0; i < 10; i++)
      expectError(
        await http('GET', `${base}/oauth2/token?service=georeg`, { headers: { Authorization: basic('victim', `guess ${i}`) } }),
        401,
        'UNAUTHORIZED',
      );
    const locked = await http('GET', `${base}/oauth2/token?service=georeg`, {
      headers: { Authorization: basic('victim', 'the right password') },
    });
    expectError(locked, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(locked.header('retry-after')) > 0);
  });
});

describe('tokens across regions', function () {
  this.timeout(20_000);

  it('a token issued by one region is accepted by another holding the same signing key, and not by one with another key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-signing-'));
    const keyFile = join(dir, 'signing.key');
    await writeFile(
      keyFile,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      { mode: 0o600 },
    );
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    const [eu, us, other] = await Promise.all([
      startTestNode({ region: 'eu', auth: { enabled: true, signingKeyFile: keyFile } }),
      startTestNode({ region: 'us', auth: { enabled: true, signingKeyFile: keyFile } }),
      startTestNode({ region: 'ap', auth: { enabled: true } }),
    ]).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    try {
      const res = await http('GET', `${eu.url}/oauth2/token?service=georeg&scope=${encodeURIComponent('registry:catalog:*')}`, {
        headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
      });
      const t = res.json<{ token: string }>().token;
      assert.equal((await http('GET', `${us.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${t}` } })).status, 200);
      expectError(await http('GET', `${other.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${t}` } }), 401, 'UNAUTHORIZED');
    } finally {
      await Promise.all([eu.close(), us.close(), other.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('authentication setup', () => {
  it('does not let an anonymous token through where nothing is anonymously pullable', async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    const node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    try {
      const anon = (await http('GET', `${node.url}/oauth2/token?service=georeg`)).json<{ token: string }>().token;
      for (const path of ['/v2/', '/georeg/v1/trust/policy', '/v2/_catalog'])
        expectError(await http('GET', `${node.url}${path}`, { headers: { Authorization: `Bearer ${anon}` } }), 401, 'UNAUTHORIZED');
    } finally {
      await node.close();
    }
  });

  it('wants authenticated traffic between regions when auth is on', async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    try {
      await assert.rejects(
        startTestNode({ auth: { enabled: true }, replication: { listen: '127.0.0.1:0' } }),
        /mutual TLS between regions/,
      );
      await assert.rejects(startTestNode({ auth: { enabled: true }, nats: { url: 'nats://127.0.0.1:4222' } }), /NATS credentials/);
    } finally {
      delete process.env.GEOREG_ADMIN_PASSWORD;
    }
  });

  it("stamps the bootstrap administrator as the oldest change, so a cluster's admin wins over a joining region's", async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    const node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    try {
      for await (const r of node.registry.identities.records()) if (r.key === 'auth/user/admin') assert.equal(r.clock.wallMs, 0);
    } finally {
      await node.close();
    }
  });

  it('challenges the catalog when nothing is anonymously pullable', async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    const node = await startTestNode({ auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
    try {
      const res = await http('GET', `${node.url}/v2/_catalog`);
      expectError(res, 401, 'UNAUTHORIZED');
      assert.match(res.header('www-authenticate') ?? '', /scope="registry:catalog:\*"/);
      expectError(await http('GET', `${node.url}/v2/`), 401, 'UNAUTHORIZED');
    } finally {
      await node.close();
    }
  });

  it('refuses to start with auth on, no users and no GEOREG_ADMIN_PASSWORD', async () => {
    await assert.rejects(startTestNode({ auth: { enabled: true } }), /GEOREG_ADMIN_PASSWORD/);
  });

  it('leaves everything open when auth is off (the local default)', async () => {
    const node = await startTestNode();
    try {
      await pushImage(node.url, 'team/app', 'v1');
      await pushBlob(node.url, 'team/app', 'x');
      assert.equal((await http('GET', `${node.url}/v2/_catalog`)).status, 200);
    } finally {
      await node.close();
    }
  });
});
