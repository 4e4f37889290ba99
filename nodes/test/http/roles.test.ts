import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleReferrer,
  generateKey,
  imageStatement,
  legacySignatureManifest,
  legacySignatureTag,
  parsePrivateKey,
  signStatement,
  simpleSigningPayload,
} from 'georeg/trust';
import { EMPTY_BLOB, MediaTypes } from 'georeg/oci';
import { startTestNode, type TestNode } from '../support/harness.js';
import { subjectOf } from '../support/signing.js';
import { expectError, http, sha256, type Res } from '../support/client.js';
import { createLogger } from '../../src/log.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const PASSWORD = 'a long enough password';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = { Authorization: basic('admin', ADMIN_PASSWORD) };

/** A node with authentication on (`public/**` anonymously pullable), in `dir` when given; `log` gets its warnings. */
async function authNode(dir?: string, lines?: string[]): Promise<TestNode> {
  process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
  const log = lines ? createLogger({ level: 'warn', write: (l) => void lines.push(l) }) : undefined;
  try {
    return await startTestNode({ auth: { enabled: true, anonymousPull: 'public/**' } }, dir, log);
  } finally {
    delete process.env.GEOREG_ADMIN_PASSWORD;
  }
}

type Headers = Record<string, string>;

/** A client of one node: tokens for a user, pushes and pulls with them. */
function client(base: string) {
  const c = {
    async addUser(name: string, roles?: unknown, admin = false): Promise<Res> {
      return http('POST', `${base}/georeg/v1/auth/users`, {
        headers: ADMIN,
        body: JSON.stringify({ name, password: PASSWORD, admin, ...(roles === undefined ? {} : { roles }) }),
      });
    },
    /** The `access` claim and bearer headers of a token for `scopes`, logged in as `user`. */
    async login(
      user: string,
      password: string,
      scopes: string[],
    ): Promise<{ access: { name: string; actions: string[] }[]; headers: Headers }> {
      const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
      const res = await http('GET', `${base}/oauth2/token?service=georeg&${q}`, { headers: { Authorization: basic(user, password) } });
      assert.equal(res.status, 200, res.body.toString());
      const token = res.json<{ token: string }>().token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as {
        access: { name: string; actions: string[] }[];
      };
      return { access: claims.access, headers: { Authorization: `Bearer ${token}` } };
    },
    /** Bearer headers for `user` on `repos` (pull, push, delete asked; the roles decide). */
    async as(user: string, ...repos: string[]): Promise<Headers> {
      const password = user === 'admin' ? ADMIN_PASSWORD : PASSWORD;
      return (await c.login(user, password, [...repos.map((r) => `repository:${r}:pull,push,delete`), 'registry:catalog:*'])).headers;
    },
    async blob(h: Headers, repo: string, data: Buffer | string): Promise<Res> {
      return http('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { headers: h, body: data });
    },
    async putManifest(h: Headers, repo: string, ref: string, manifest: Buffer): Promise<Res> {
      return http('PUT', `${base}/v2/${repo}/manifests/${ref}`, {
        headers: { ...h, 'Content-Type': MediaTypes.ociManifest },
        body: manifest,
      });
    },
    /** Push an ordinary image (a config and one layer) under `ref`; returns the manifest PUT's answer and the manifest. */
    async pushImage(h: Headers, repo: string, ref: string, layer = `layer ${Math.random()}`): Promise<{ res: Res; manifest: Buffer }> {
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
      for (const b of [config, layer]) await c.blob(h, repo, b);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: Buffer.byteLength(layer) }],
        }),
      );
      return { res: await c.putManifest(h, repo, ref, manifest), manifest };
    },
    get(h: Headers, repo: string, ref: string): Promise<Res> {
      return http('GET', `${base}/v2/${repo}/manifests/${ref}`, { headers: { ...h, Accept: MediaTypes.ociManifest } });
    },
  };
  return c;
}

/** The 401 challenge a caller without the access gets. */
function refused(res: Res): void {
  expectError(res, 401, 'UNAUTHORIZED');
  assert.match(res.header('www-authenticate') ?? '', /error="insufficient_scope"/);
}

describe('user roles: least privilege per repository glob', function () {
  this.timeout(30_000);
  let node: TestNode;
  let base: string;
  let c: ReturnType<typeof client>;
  let admin: Headers;

  before(async () => {
    node = await authNode();
    base = node.url;
    c = client(base);
    admin = await c.as('admin', 'team/sec', 'team/app', 'team/x', 'other/x', 'public/base');
    for (const repo of ['team/app', 'other/x', 'public/base']) assert.equal((await c.pushImage(admin, repo, 'v1')).res.status, 201);
  });
  after(() => node.close());

  it("a user added without roles logs in but can do nothing: the issue's deletion of team/sec:victim is refused, and the admin's v1 survives", async () => {
    const image = await c.pushImage(admin, 'team/sec', 'v1');
    assert.equal((await c.putManifest(admin, 'team/sec', 'victim', image.manifest)).status, 201);
    const added = await c.addUser('dev');
    assert.equal(added.status, 201, added.body.toString());
    assert.deepEqual(added.json<{ roles: unknown[]; legacy: boolean }>().roles, []);
    const { access, headers: dev } = await c.login('dev', PASSWORD, ['repository:team/sec:pull,push,delete', 'repository:other/x:*']);
    assert.deepEqual(access, [], 'the token endpoint answers, granting nothing');
    const digest = sha256(image.manifest);
    refused(await http('DELETE', `${base}/v2/team/sec/manifests/victim`, { headers: dev }));
    refused(await http('DELETE', `${base}/v2/team/sec/manifests/${digest}`, { headers: dev }));
    refused(await c.blob(dev, 'team/sec', 'dev was here'));
    refused(await c.putManifest(dev, 'team/sec', 'v2', image.manifest));
    refused(await c.get(dev, 'team/sec', 'v1'));
    const v1 = await c.get(admin, 'team/sec', 'v1');
    assert.equal(v1.status, 200);
    assert.equal(v1.header('docker-content-digest'), digest);
  });

  it('team/**:push pushes and pulls team/x, and can neither delete it nor touch other/x', async () => {
    assert.equal((await c.addUser('pusher', [{ repositories: ['team/**'], roles: ['push'] }])).status, 201);
    const { access, headers: h } = await c.login('pusher', PASSWORD, [
      'repository:team/x:pull,push,delete',
      'repository:other/x:pull,push',
    ]);
    assert.deepEqual(access, [{ type: 'repository', name: 'team/x', actions: ['pull', 'push'] }]);
    const pushed = await c.pushImage(h, 'team/x', 'v1');
    assert.equal(pushed.res.status, 201, pushed.res.body.toString());
    assert.equal((await c.get(h, 'team/x', 'v1')).status, 200);
    refused(await http('DELETE', `${base}/v2/team/x/manifests/${sha256(pushed.manifest)}`, { headers: h }));
    refused(await c.get(h, 'other/x', 'v1'));
    refused(await c.blob(h, 'other/x', 'not yours'));
  });

  it('the delete role deletes (and pulls, to resolve a tag first), and does not push', async () => {
    const doomed = await c.pushImage(admin, 'team/x', 'doomed');
    assert.equal((await c.addUser('janitor', [{ repositories: ['team/**'], roles: ['delete'] }])).status, 201);
    const h = await c.as('janitor', 'team/x');
    const head = await http('HEAD', `${base}/v2/team/x/manifests/doomed`, { headers: { ...h, Accept: MediaTypes.ociManifest } });
    assert.equal(head.header('docker-content-digest'), sha256(doomed.manifest));
    assert.equal((await http('DELETE', `${base}/v2/team/x/manifests/${sha256(doomed.manifest)}`, { headers: h })).status, 202);
    expectError(await c.get(admin, 'team/x', 'doomed'), 404, 'MANIFEST_UNKNOWN');
    refused(await c.blob(h, 'team/x', 'janitors do not push'));
  });

  it("the sign role pushes signature artifacts (referrers by digest, cosign's .sig tag) and nothing else", async () => {
    assert.equal((await c.addUser('signer', [{ repositories: ['team/**'], roles: ['sign'] }])).status, 201);
    // cosign and georeg sign ask for pull,push: a signer is granted sign instead of push.
    const { access, headers: h } = await c.login('signer', PASSWORD, ['repository:team/app:pull,push']);
    assert.deepEqual(access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'sign'] }]);
    const image = await c.get(h, 'team/app', 'v1');
    const subject = subjectOf(image.body);
    const key = parsePrivateKey(generateKey().privatePem);
    // A cosign v3 signature: an OCI 1.1 referrer, pushed by digest.
    const statement = imageStatement(`reg.test/team/app`, subject.digest);
    const bundle = await signStatement(statement, key);
    for (const b of [bundle, EMPTY_BLOB]) assert.equal((await c.blob(h, 'team/app', b)).status, 201);
    const referrer = bundleReferrer(subject, { digest: sha256(bundle), size: bundle.length }, MediaTypes.sigstoreBundle, statement);
    const put = await c.putManifest(h, 'team/app', sha256(referrer), referrer);
    assert.equal(put.status, 201, put.body.toString());
    // An older cosign's signature under the sha256-<hex>.sig tag.
    const payload = simpleSigningPayload('reg.test/team/app', subject.digest, {});
    assert.equal((await c.blob(h, 'team/app', payload)).status, 201);
    const legacy = legacySignatureManifest({ digest: sha256(payload), size: payload.length }, Buffer.from('signature'));
    assert.equal((await c.putManifest(h, 'team/app', legacySignatureTag(subject.digest), legacy)).status, 201);
    // A signature under an ordinary tag, an ordinary image by tag or by digest: refused, saying why.
    const ordinary = await c.pushImage(h, 'team/app', 'v2');
    for (const res of [
      await c.putManifest(h, 'team/app', 'latest', referrer),
      ordinary.res,
      await c.putManifest(h, 'team/app', sha256(ordinary.manifest), ordinary.manifest),
    ]) {
      assert.match(expectError(res, 403, 'DENIED')?.message ?? '', /sign role allows pushing signatures only/);
    }
    // A signature with the image's layers and config under other-cased keys: Go's JSON (containerd,
    // Docker) reads those keys too, and would run it. Not a signature.
    const image2 = JSON.parse(ordinary.manifest.toString()) as { config: unknown; layers: unknown };
    const smuggled = Buffer.from(JSON.stringify({ ...JSON.parse(referrer.toString()), Layers: image2.layers, Config: image2.config }));
    assert.match(
      expectError(await c.putManifest(h, 'team/app', sha256(smuggled), smuggled), 403, 'DENIED')?.message ?? '',
      /sign role allows pushing signatures only/,
    );
    expectError(await c.get(admin, 'team/app', 'v2'), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.get(admin, 'team/app', 'latest'), 404, 'MANIFEST_UNKNOWN');
    // Tokens can be signers too.
    const made = await http('POST', `${base}/georeg/v1/auth/tokens`, {
      headers: ADMIN,
      body: JSON.stringify({ name: 'ci-signer', scopes: [{ repositories: ['team/**'], actions: ['pull', 'sign'] }] }),
    });
    assert.equal(made.status, 201, made.body.toString());
    const t = await c.login('ci-signer', made.json<{ secret: string }>().secret, ['repository:team/app:pull,push']);
    assert.deepEqual(t.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'sign'] }]);
    assert.equal((await c.putManifest(t.headers, 'team/app', sha256(referrer), referrer)).status, 201);
    assert.equal((await c.pushImage(t.headers, 'team/app', 'v3')).res.status, 403);
  });

  it('the catalog lists only the repositories the caller may pull; where needs pull', async () => {
    assert.equal((await c.addUser('reader', [{ repositories: ['team/app', 'team/sec'], roles: ['pull'] }])).status, 201);
    const h = await c.as('reader', 'team/app', 'other/x');
    assert.deepEqual((await http('GET', `${base}/v2/_catalog`, { headers: h })).json<{ repositories: string[] }>().repositories, [
      'public/base',
      'team/app',
      'team/sec',
    ]);
    assert.equal((await http('GET', `${base}/georeg/v1/where/team/app/v1`, { headers: h })).status, 200);
    refused(await http('GET', `${base}/georeg/v1/where/other/x/v1`, { headers: h }));
    const none = await c.as('dev', 'team/app');
    assert.deepEqual((await http('GET', `${base}/v2/_catalog`, { headers: none })).json<{ repositories: string[] }>().repositories, [
      'public/base',
    ]);
  });

  it('the admin role on a glob: pull, push, delete and sign there, no administration', async () => {
    assert.equal(
      (
        await c.addUser('owner', [
          { repositories: ['team/**'], roles: ['admin'] },
          { repositories: ['other/**'], roles: ['pull', 'sign'] },
        ])
      ).status,
      201,
    );
    const { access } = await c.login('owner', PASSWORD, ['repository:team/app:*', 'repository:other/x:*']);
    assert.deepEqual(
      access.map((e) => [e.name, e.actions.sort()]),
      [
        ['team/app', ['delete', 'metadata_read', 'metadata_write', 'pull', 'push', 'sign']],
        ['other/x', ['metadata_read', 'pull', 'sign']],
      ],
    );
    expectError(await http('GET', `${base}/georeg/v1/auth/users`, { headers: { Authorization: basic('owner', PASSWORD) } }), 403, 'DENIED');
  });

  it('takes roles on POST and PATCH, replaces them on PATCH, shows them, and names what is wrong with bad ones', async () => {
    const bad: [unknown, RegExp][] = [
      ['team/**:push', /roles must be a list/],
      [[{ repositories: ['team/**'], roles: ['owner'] }], /roles\[0\]\.roles: unknown role "owner"; use pull, push, delete, sign, admin/],
      [[{ repositories: [], roles: ['pull'] }], /roles\[0\]\.repositories must be a non-empty list of globs/],
      [[{ repositories: ['Team/**'], roles: ['pull'] }], /roles\[0\]\.repositories: repository glob "Team\/\*\*"/],
      [[{ repositories: ['team/**'], roles: [] }], /roles\[0\]\.roles must be a non-empty list/],
    ];
    for (const [roles, message] of bad) {
      assert.match(expectError(await c.addUser('shaky', roles), 400, 'AUTH_INVALID')?.message ?? '', message);
      assert.match(
        expectError(
          await http('PATCH', `${base}/georeg/v1/auth/users/pusher`, { headers: ADMIN, body: JSON.stringify({ roles }) }),
          400,
          'AUTH_INVALID',
        )?.message ?? '',
        message,
      );
    }
    expectError(await http('DELETE', `${base}/georeg/v1/auth/users/shaky`, { headers: ADMIN }), 404, 'AUTH_UNKNOWN');
    const roles = [{ repositories: ['other/**'], roles: ['pull', 'sign'] }];
    const patched = await http('PATCH', `${base}/georeg/v1/auth/users/pusher`, { headers: ADMIN, body: JSON.stringify({ roles }) });
    assert.deepEqual(patched.json<{ roles: unknown }>().roles, roles);
    const users = (await http('GET', `${base}/georeg/v1/auth/users`, { headers: ADMIN })).json<{
      users: { name: string; roles: unknown; legacy: boolean }[];
    }>().users;
    const pusher = users.find((u) => u.name === 'pusher');
    assert.deepEqual([pusher?.roles, pusher?.legacy], [roles, false]);
    // The replaced roles are the ones that count, at once.
    const { access } = await c.login('pusher', PASSWORD, ['repository:team/x:pull,push', 'repository:other/x:pull,push']);
    assert.deepEqual(access, [{ type: 'repository', name: 'other/x', actions: ['pull', 'sign'] }]);
  });

  it('a user record with roles from another region round-trips; one with malformed roles is dropped', async () => {
    await node.registry.identities.addUser('traveller', PASSWORD, false, { roles: [{ repositories: ['team/**'], roles: ['push'] }] });
    let record = '';
    for await (const r of node.registry.identities.records()) if (r.key === 'auth/user/traveller') record = r.record;
    const other = await authNode();
    try {
      const at = { wallMs: Date.now(), logical: 0, region: 'eu' };
      assert.equal(await other.registry.identities.applyReplicated('auth/user/traveller', record, at), true);
      const { access } = await client(other.url).login('traveller', PASSWORD, [
        'repository:team/x:pull,push,delete',
        'repository:other/x:pull',
      ]);
      assert.deepEqual(access, [{ type: 'repository', name: 'team/x', actions: ['pull', 'push'] }]);
      const malformed = [[{ repositories: ['**'], roles: ['root'] }], 'admin', [{ repositories: '**', roles: ['pull'] }], null];
      for (const roles of malformed) {
        const json = JSON.stringify({ ...JSON.parse(record), name: 'mallory', roles });
        assert.equal(
          await other.registry.identities.applyReplicated('auth/user/mallory', json, { ...at, logical: 1 }),
          false,
          JSON.stringify(roles),
        );
      }
      assert.equal(await other.registry.identities.login('mallory', PASSWORD), undefined);
    } finally {
      await other.close();
    }
  });
});

describe('users stored before roles existed', function () {
  this.timeout(30_000);
  let dir: string;

  before(async () => (dir = await mkdtemp(join(tmpdir(), 'georeg-roles-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  /** The stored record of `name` as the previous release wrote it: no roles field. */
  async function legacyRecord(node: TestNode, name: string): Promise<string> {
    const stored = (await identities(node).get(`auth/user/${name}`)) as Record<string, unknown>;
    delete stored.roles;
    delete stored.clock;
    return JSON.stringify(stored);
  }
  const identities = (node: TestNode) => node.stores.meta.records<Record<string, unknown>>('identities');

  it('keep pull, push and delete everywhere, are named in a warning at start with the command to narrow them, and narrow', async () => {
    let node = await authNode(dir);
    await client(node.url).addUser('old-dev');
    for (const name of ['old-dev', 'admin']) await identities(node).put(`auth/user/${name}`, JSON.parse(await legacyRecord(node, name)));
    await node.close();
    const lines: string[] = [];
    node = await authNode(dir, lines);
    try {
      const c = client(node.url);
      const warning = lines
        .map((l) => JSON.parse(l) as { level: string; msg: string; user?: string; narrow?: string })
        .find((l) => l.user === 'old-dev');
      assert.equal(warning?.level, 'warn', lines.join(''));
      assert.match(warning?.msg ?? '', /has no roles .*keeps push and delete on every repository/);
      assert.match(warning?.narrow ?? '', /^georeg user update old-dev --role /);
      assert.ok(!lines.some((l) => l.includes('"user":"admin"')), 'an administrator is not named: roles do not narrow it');
      assert.equal(
        (await c.pushImage(await c.as('admin', 'any/thing'), 'any/thing', 'v1')).res.status,
        201,
        'a legacy administrator may do everything',
      );
      const listed = (await http('GET', `${node.url}/georeg/v1/auth/users`, { headers: ADMIN })).json<{
        users: { name: string; roles: unknown; legacy: boolean }[];
      }>().users;
      assert.deepEqual(listed.find((u) => u.name === 'old-dev')?.roles, [{ repositories: ['**'], roles: ['push', 'delete'] }]);
      assert.equal(listed.find((u) => u.name === 'old-dev')?.legacy, true);
      const h = await c.as('old-dev', 'any/repo');
      const pushed = await c.pushImage(h, 'any/repo', 'v1');
      assert.equal(pushed.res.status, 201, pushed.res.body.toString());
      assert.equal((await http('DELETE', `${node.url}/v2/any/repo/manifests/${sha256(pushed.manifest)}`, { headers: h })).status, 202);
      // Narrowed, it is legacy no more.
      const narrowed = await http('PATCH', `${node.url}/georeg/v1/auth/users/old-dev`, {
        headers: ADMIN,
        body: JSON.stringify({ roles: [{ repositories: ['team/**'], roles: ['pull'] }] }),
      });
      assert.equal(narrowed.json<{ legacy: boolean }>().legacy, false);
      assert.deepEqual((await c.login('old-dev', PASSWORD, ['repository:any/repo:pull,push'])).access, []);
    } finally {
      await node.close();
    }
  });

  it('a record replicated from a region on the previous release (no roles field) keeps the access it has there', async () => {
    const node = await authNode();
    try {
      const c = client(node.url);
      await c.addUser('peer-dev', [{ repositories: ['team/**'], roles: ['pull'] }]);
      const old = await legacyRecord(node, 'peer-dev');
      assert.equal(
        await node.registry.identities.applyReplicated('auth/user/peer-dev', old, { wallMs: Date.now() + 1000, logical: 0, region: 'old' }),
        true,
      );
      const { access } = await c.login('peer-dev', PASSWORD, ['repository:other/app:pull,push,delete']);
      assert.deepEqual(access, [{ type: 'repository', name: 'other/app', actions: ['pull', 'push', 'delete'] }]);
      const listed = (await node.registry.identities.listUsers()).find((u) => u.name === 'peer-dev');
      assert.deepEqual([listed?.roles, listed?.legacy], [[{ repositories: ['**'], roles: ['push', 'delete'] }], true]);
    } finally {
      await node.close();
    }
  });
});
