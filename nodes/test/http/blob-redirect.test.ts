import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, sha256 } from '../support/client.js';
import { JwtSigner } from '../../src/auth/jwt.js';
import type { ReplicationStatusSource } from '../../src/status.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

/**
 * Two regions' nodes sharing the token signing key, with authentication on: a
 * blob held by `origin` only, pulled from `lagging`, whose replication source
 * (standing in for its replicator) names origin as the region holding it.
 */
describe('a pull of a blob not replicated yet: a redirect to a signed URL in a region that holds it', function () {
  this.timeout(30_000);
  let dir: string;
  let key: string;
  let origin: TestNode;
  let lagging: TestNode;
  const blob = randomBytes(300 * 1024);
  const digest = sha256(blob);
  let asked: string[] = [];

  const token = async (node: TestNode, scope: string): Promise<string> => {
    const res = await http('GET', `${node.url}/oauth2/token?service=georeg&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
    });
    assert.equal(res.status, 200, res.body.toString());
    return res.json<{ token: string }>().token;
  };

  async function authNode(extra: { redirectTtlSeconds?: number } = {}): Promise<TestNode> {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    try {
      return await startTestNode({
        auth: { enabled: true, signingKeyFile: join(dir, 'signing.key') },
        replication: { redirectTtlSeconds: extra.redirectTtlSeconds ?? 60 },
      });
    } finally {
      delete process.env.GEOREG_ADMIN_PASSWORD;
    }
  }

  /** Point `node`'s replication at origin for blob lookups (what a replicator answers from StatBlob). */
  function routeTo(node: TestNode, holder: TestNode): void {
    const source: ReplicationStatusSource = {
      peers: async () => [],
      views: async () => [],
      streamBlob: async () => undefined,
      locate: async () => [],
      fetch: async () => ({ fetched: false, unreachable: [] }),
      fetchReferences: async () => ({ fetched: false, unreachable: [] }),
      publicUrlOf: () => undefined,
      findBlob: async (repo, d) => {
        asked.push(`${repo}@${d}`);
        return (
          await http('HEAD', `${holder.url}/v2/${repo}/blobs/${d}`, { headers: bearer(await token(holder, `repository:${repo}:pull`)) })
        ).status === 200
          ? `${holder.url}/`
          : undefined;
      },
    };
    node.status.replication = source;
  }

  /** The redirect `lagging` answers for a GET of the blob in `repo`. */
  async function redirect(node: TestNode, repo = 'team/app'): Promise<URL> {
    const res = await http('GET', `${node.url}/v2/${repo}/blobs/${digest}`, {
      headers: bearer(await token(node, `repository:${repo}:pull`)),
    });
    assert.equal(res.status, 307, res.body.toString());
    return new URL(res.header('location') ?? '');
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-redirect-'));
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await writeFile(join(dir, 'signing.key'), key, { mode: 0o600 });
    origin = await authNode();
    lagging = await authNode();
    routeTo(lagging, origin);
    const t = await token(origin, 'repository:team/app:pull,push');
    const res = await http('POST', `${origin.url}/v2/team/app/blobs/uploads/?digest=${digest}`, { headers: bearer(t), body: blob });
    assert.equal(res.status, 201, res.body.toString());
  });
  beforeEach(() => (asked = []));
  after(async () => {
    await lagging?.close();
    await origin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('redirects a GET to the holding region, whose signed URL serves the bytes (and ranges) without other credentials', async () => {
    const to = await redirect(lagging);
    assert.equal(`${to.origin}${to.pathname}`, `${origin.url}/georeg/v1/data/team/app/blobs/${digest}`);
    assert.ok(to.searchParams.get('t'));
    const got = await http('GET', to.href);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(blob));
    assert.equal(got.header('docker-content-digest'), digest);
    const part = await http('GET', to.href, { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(blob.subarray(10, 20)));
    assert.equal((await http('HEAD', to.href)).status, 200);
  });

  it('never redirects a HEAD (a pushing client would skip its upload), nor a caller who may not pull here', async () => {
    const t = await token(lagging, 'repository:team/app:pull');
    expectError(await http('HEAD', `${lagging.url}/v2/team/app/blobs/${digest}`, { headers: bearer(t) }), 404, 'BLOB_UNKNOWN');
    const other = await token(lagging, 'repository:team/other:pull');
    const res = await http('GET', `${lagging.url}/v2/team/app/blobs/${digest}`, { headers: bearer(other) });
    expectError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.header('location'), undefined);
    assert.deepEqual(asked, []);
  });

  it('answers 404 when no region holds the blob in that repository', async () => {
    const t = await token(lagging, 'repository:team/other:pull');
    expectError(await http('GET', `${lagging.url}/v2/team/other/blobs/${digest}`, { headers: bearer(t) }), 404, 'BLOB_UNKNOWN');
    assert.deepEqual(asked, [`team/other@${digest}`]);
  });

  it('a signed URL opens that blob of that repository only', async () => {
    const to = await redirect(lagging);
    const t = to.searchParams.get('t') as string;
    const other = sha256('another blob');
    expectError(await http('GET', `${origin.url}/georeg/v1/data/team/app/blobs/${other}?t=${t}`), 403, 'DENIED');
    expectError(await http('GET', `${origin.url}/georeg/v1/data/team/other/blobs/${digest}?t=${t}`), 403, 'DENIED');
    expectError(await http('GET', `${origin.url}/georeg/v1/data/team/app/blobs/${digest}`), 403, 'DENIED');
    // An access token, even one granting the pull, is not a signed URL's credential; nor is a token signed by another key.
    expectError(
      await http('GET', `${origin.url}/georeg/v1/data/team/app/blobs/${digest}?t=${await token(origin, 'repository:team/app:pull')}`),
      403,
      'DENIED',
    );
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forged = new JwtSigner(otherKey, 'georeg', 'georeg').issue('team/app', 60, { typ: 'blob', dgst: digest }).token;
    expectError(await http('GET', `${origin.url}/georeg/v1/data/team/app/blobs/${digest}?t=${forged}`), 403, 'DENIED');
    expectError(await http('GET', `${origin.url}/georeg/v1/data/team/app/blobs/${digest}?t=${t.slice(0, -4)}AAAA`), 403, 'DENIED');
  });

  it('refuses a replay of the signed URL after it expired', async () => {
    const shortLived = await authNode({ redirectTtlSeconds: 1 });
    try {
      routeTo(shortLived, origin);
      const to = await redirect(shortLived);
      assert.equal((await http('GET', to.href)).status, 200);
      const { exp } = JSON.parse(Buffer.from((to.searchParams.get('t') as string).split('.')[1] as string, 'base64url').toString()) as {
        exp: number;
      };
      // Waiting for the expiry itself is the point: nothing else can be awaited.
      await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 1100));
      const replay = await http('GET', to.href);
      expectError(replay, 403, 'DENIED');
      assert.equal(replay.body.includes(blob.subarray(0, 64)), false);
    } finally {
      await shortLived.close();
    }
  });
});
