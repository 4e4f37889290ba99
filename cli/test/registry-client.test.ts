import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { digestOf, isOciError, MediaTypes } from 'georeg/oci';
import { closedPort, pushImage } from 'georeg/test-support';
import { CliError } from '../src/command.js';
import { writeDevCerts } from '../src/commands/certs.js';
import { parseImageRef, RegistryClient, RegistryError } from '../src/registry-client.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

const { ociManifest: OCI_MANIFEST, ociEmpty: EMPTY } = MediaTypes;

function isRegistryError(status: number | undefined, code: string | undefined, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof RegistryError, `not a RegistryError: ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  };
}

describe('RegistryClient against a georeg node', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let client: RegistryClient;
  before(async () => {
    node = await startTestNode();
    client = new RegistryClient(node.url);
  });
  after(async () => {
    await node.close();
  });

  it('pushes blobs (streamed, counting bytes), skips those present, reads small ones back', async () => {
    const repo = 'client/blobs';
    const data = randomBytes(300_000);
    const digest = digestOf(data);
    let counted = 0;
    const open = (): Readable => Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]);
    assert.equal(await client.blobExists(repo, digest), false);
    assert.equal(await client.pushBlob(repo, digest, data.length, open, (n) => (counted += n)), 'pushed');
    assert.equal(counted, data.length);
    assert.equal(await client.blobExists(repo, digest), true);
    assert.equal(await client.pushBlob(repo, digest, data.length, open), 'skipped');
    assert.deepEqual(await client.getBlob(repo, digest, data.length), data);
    await assert.rejects(
      client.getBlob(repo, digest, 1000),
      isRegistryError(200, undefined, /^GET \/v2\/client\/blobs\/blobs\/sha256:\w+: larger than 1000 bytes$/),
    );

    const small = await client.pushBytes(repo, Buffer.from('hello'));
    assert.deepEqual(small, { digest: digestOf(Buffer.from('hello')), size: 5 });
    assert.equal((await client.getBlob(repo, small.digest, 5)).toString(), 'hello');
  });

  it('maps a refused upload to the OCI error, and a read error of the source to itself', async () => {
    const repo = 'client/refused';
    const wrong = digestOf(Buffer.from('something else'));
    await assert.rejects(
      client.pushBlob(repo, wrong, 5, () => Readable.from([Buffer.from('hello')])),
      isRegistryError(400, 'DIGEST_INVALID', /^PUT \/v2\/client\/refused\/blobs\/uploads\/[^:]+: 400 DIGEST_INVALID /),
    );
    await assert.rejects(
      client.pushBlob(repo, digestOf(Buffer.from('x')), 1, () => createReadStream('/nonexistent/blob')),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && !(e instanceof RegistryError),
    );
  });

  it('puts, heads and gets manifests by tag and by digest', async () => {
    const repo = 'client/manifests';
    const image = await pushImage(node.url, repo, 'v0'); // its blobs, and the manifest to put again
    assert.equal(await client.putManifest(repo, 'v1', image.manifest, OCI_MANIFEST), digestOf(image.manifest));
    assert.equal(image.digest, digestOf(image.manifest));
    for (const ref of ['v1', image.digest]) {
      const got = await client.getManifest(repo, ref);
      assert.deepEqual(got, { digest: image.digest, mediaType: OCI_MANIFEST, bytes: image.manifest });
      assert.deepEqual(await client.headManifest(repo, ref), {
        digest: image.digest,
        mediaType: OCI_MANIFEST,
        size: image.manifest.length,
      });
    }
    assert.equal(await client.headManifest(repo, 'nope'), undefined);
  });

  it('turns an OCI error body into status, code and a clear message', async () => {
    await assert.rejects(
      client.getManifest('client/none', 'nope'),
      isRegistryError(404, 'MANIFEST_UNKNOWN', /^GET \/v2\/client\/none\/manifests\/nope: 404 MANIFEST_UNKNOWN manifest unknown/),
    );
    await assert.rejects(
      client.putManifest('client/none', 'v1', Buffer.from('{"schemaVersion": 2'), OCI_MANIFEST),
      isRegistryError(400, 'MANIFEST_INVALID', /^PUT \/v2\/client\/none\/manifests\/v1: 400 MANIFEST_INVALID /),
    );
  });

  it('says when the registry cannot be reached', async () => {
    await assert.rejects(
      new RegistryClient(`http://127.0.0.1:${await closedPort()}`).blobExists('a/b', digestOf(Buffer.from('x'))),
      isRegistryError(undefined, undefined, /^HEAD \/v2\/a\/b\/blobs\/sha256:\w+: cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/),
    );
  });

  it("calls georeg's JSON API: the answer parsed, an error answer decoded as any other", async () => {
    const status = await client.api<{ region: string }>('GET', '/georeg/v1/replication');
    assert.equal(status.region, 'local');
    await assert.rejects(
      client.api('PUT', '/georeg/v1/trust/policy', '{"keys": 3'),
      isRegistryError(400, 'POLICY_INVALID', /^PUT \/georeg\/v1\/trust\/policy: 400 POLICY_INVALID /),
    );
    // The error body decodes to the node's own typed error, as its cause.
    await assert.rejects(client.api('PUT', '/georeg/v1/trust/policy', '{"keys": 3'), (e: RegistryError) =>
      isOciError(e.cause, 'POLICY_INVALID'),
    );
    assert.equal(await client.getJson('/georeg/v1/nothing-here'), undefined);
  });

  it('lists tags across Link pages', async () => {
    const repo = 'client/tags';
    const tags = ['a', 'b', 'c', 'd', 'e'];
    for (const t of tags) await pushImage(node.url, repo, t);
    assert.deepEqual((await client.listTags(repo, 2)).sort(), tags);
    assert.deepEqual((await client.listTags(repo)).sort(), tags);
  });

  it('lists referrers, optionally of one artifact type', async () => {
    const repo = 'client/referrers';
    const subject = await pushImage(node.url, repo, 'v1');
    const empty = await client.pushBytes(repo, Buffer.from('{}'));
    const sig = await pushImage(node.url, repo, 'sig', [], {
      artifactType: 'application/vnd.example.sig',
      config: { mediaType: EMPTY, ...empty },
      layers: [{ mediaType: EMPTY, ...empty }],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
    });
    const all = await client.referrers(repo, subject.digest);
    assert.deepEqual(
      all.map((d) => [d.digest, d.artifactType]),
      [[sig.digest, 'application/vnd.example.sig']],
    );
    assert.equal((await client.referrers(repo, subject.digest, 'application/vnd.example.sig')).length, 1);
    assert.deepEqual(await client.referrers(repo, subject.digest, 'application/vnd.example.other'), []);
  });
});

describe('RegistryClient against a scripted server', () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('PUTs the upload to the Location, relative, keeping its query, with extra headers', async () => {
    const data = Buffer.from('layer bytes');
    const digest = digestOf(data);
    const seen: string[] = [];
    handler = (req, res, body) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-extra']}`);
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST') return res.writeHead(202, { Location: '/elsewhere/upload/1?_state=abc' }).end();
      assert.equal(req.headers['content-length'], String(data.length));
      assert.deepEqual(body, data);
      res.writeHead(201).end();
    };
    const client = new RegistryClient(base + '/', { headers: { 'X-Extra': 'yes' } });
    assert.equal(await client.pushBlob('a/b', digest, data.length, () => Readable.from([data])), 'pushed');
    assert.deepEqual(seen, [
      `HEAD /v2/a/b/blobs/${digest} yes`,
      'POST /v2/a/b/blobs/uploads/ yes',
      `PUT /elsewhere/upload/1?_state=abc&digest=${encodeURIComponent(digest)} yes`,
    ]);
  });

  it('refuses a manifest whose bytes do not match the digest the registry claims', async () => {
    const bytes = Buffer.from('{"schemaVersion":2}');
    const claimed = digestOf(Buffer.from('other'));
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': claimed }).end(bytes);
    const client = new RegistryClient(base);
    await assert.rejects(
      client.getManifest('a/b', 'v1'),
      isRegistryError(
        undefined,
        undefined,
        new RegExp(`^GET /v2/a/b/manifests/v1: the manifest's digest is ${digestOf(bytes)}, not ${claimed}$`),
      ),
    );
    await assert.rejects(client.getManifest('a/b', claimed), /the manifest's digest is/);
  });

  it('sends credentials as Basic when told, answering no challenge with them', async () => {
    const seen: string[] = [];
    handler = (req, res, body) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization} ${req.headers['content-type']} ${body.toString()}`);
      if (req.url === '/georeg/v1/auth/users/dev') return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"name":"dev"}');
      res
        .writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': `Bearer realm="${base}/oauth2/token",service="x"` })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}');
    };
    const client = new RegistryClient(base, { credentials: { username: 'admin', password: 'pw' }, basic: true });
    const basic = `Basic ${Buffer.from('admin:pw').toString('base64')}`;
    assert.deepEqual(await client.api('PATCH', '/georeg/v1/auth/users/dev', { disabled: true }), { name: 'dev' });
    await assert.rejects(
      client.api('GET', '/georeg/v1/auth/users'),
      isRegistryError(401, 'UNAUTHORIZED', /^GET \/georeg\/v1\/auth\/users: 401 UNAUTHORIZED invalid credentials$/),
    );
    assert.deepEqual(seen, [
      `PATCH /georeg/v1/auth/users/dev ${basic} application/json {"disabled":true}`,
      `GET /georeg/v1/auth/users ${basic} undefined `,
    ]);
  });

  it('named without a scheme on a loopback host: HTTPS first, then plain HTTP when that is what answers (and says so when not allowed)', async () => {
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    const https = base.replace('http://', 'https://');
    const client = new RegistryClient(https, { httpFallback: true });
    assert.deepEqual(await Promise.all([client.api('GET', '/v2/'), client.api('GET', '/v2/')]), [{}, {}]);
    assert.equal(client.base, base, 'it stays on plain HTTP');
    await assert.rejects(
      new RegistryClient(https).api('GET', '/v2/'),
      isRegistryError(undefined, undefined, /the registry answers in plain HTTP, not HTTPS: give http:\/\/127\.0\.0\.1:\d+$/),
    );
  });

  it('gives up on an exchange after timeoutMs', async () => {
    handler = () => undefined; // never answers
    const client = new RegistryClient(base, { timeoutMs: 200 });
    await assert.rejects(
      client.api('GET', '/georeg/v1/replication'),
      isRegistryError(
        undefined,
        undefined,
        /^GET \/georeg\/v1\/replication: http:\/\/127\.0\.0\.1:\d+ did not answer within 0\.2 s \(--timeout SECONDS waits longer\)$/,
      ),
    );
    server.closeAllConnections();
  });

  it('reports a non-OCI error body by its first line', async () => {
    handler = (_req, res) => res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html>bad gateway</html>\n<body>');
    await assert.rejects(
      new RegistryClient(base).listTags('a/b'),
      isRegistryError(502, undefined, /^GET \/v2\/a\/b\/tags\/list: 502 <html>bad gateway<\/html>$/),
    );
  });
});

describe('RegistryClient over HTTPS trusting a CA (the ca option)', function () {
  this.timeout(30_000);
  let dir: string;
  let server: ReturnType<typeof createHttpsServer>;
  let base: string;
  let ca: Buffer;
  const blob = Buffer.from('redirected blob');
  const seen: string[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-client-tls-'));
    await writeDevCerts(dir, '127.0.0.1', 1, false);
    ca = await readFile(join(dir, 'ca.pem'));
    server = createHttpsServer(
      { cert: await readFile(join(dir, 'server.pem')), key: await readFile(join(dir, 'server.key')) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'} ${Buffer.concat(chunks).length}`);
          if (req.method === 'HEAD') return res.writeHead(404).end();
          if (req.method === 'POST') return res.writeHead(202, { Location: '/upload/1' }).end();
          if (req.method === 'PUT') return res.writeHead(201).end();
          if (req.url?.startsWith('/v2/a/b/blobs/')) return res.writeHead(307, { Location: `/data/a/b?t=signed` }).end();
          if (req.url === '/data/a/b?t=signed') return res.writeHead(200, { 'Content-Length': blob.length }).end(blob);
          if (req.url?.startsWith('/token?')) return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"over-tls"}');
          if (req.url === '/georeg/v1/private' && req.headers.authorization !== 'Bearer over-tls')
            return res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${base}/token",service="s"` }).end();
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"region":"tls"}');
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches the server, follows a redirect as fetch does, and pushes with the CA; without it, cannot reach', async () => {
    const client = new RegistryClient(base, { ca, headers: { Authorization: 'Bearer t' } });
    assert.deepEqual(await client.api('GET', '/georeg/v1/replication'), { region: 'tls' });
    assert.deepEqual(await client.getBlob('a/b', digestOf(blob), 100), blob);
    assert.equal(await client.pushBlob('a/b', digestOf(blob), blob.length, () => Readable.from([blob])), 'pushed');
    assert.deepEqual(seen, [
      'GET /georeg/v1/replication Bearer t 0',
      `GET /v2/a/b/blobs/${digestOf(blob)} Bearer t 0`,
      'GET /data/a/b?t=signed Bearer t 0',
      `HEAD /v2/a/b/blobs/${digestOf(blob)} Bearer t 0`,
      'POST /v2/a/b/blobs/uploads/ Bearer t 0',
      `PUT /upload/1?digest=${encodeURIComponent(digestOf(blob))} Bearer t ${blob.length}`,
    ]);
    await assert.rejects(
      new RegistryClient(base).api('GET', '/georeg/v1/replication'),
      isRegistryError(undefined, undefined, /cannot reach https:\/\/127\.0\.0\.1:\d+: .*(self-signed|certificate)/i),
    );
  });

  it('asks the token service through the same transport, trusting the CA', async () => {
    seen.length = 0;
    const client = new RegistryClient(base, { ca, credentials: { username: 'u', password: 'p' } });
    assert.deepEqual(await client.api('GET', '/georeg/v1/private'), { region: 'tls' });
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    assert.deepEqual(seen, ['GET /georeg/v1/private - 0', `GET /token?service=s ${basic} 0`, 'GET /georeg/v1/private Bearer over-tls 0']);
  });
});

describe('parseImageRef', () => {
  it('parses registry, repository, tag and digest: HTTPS unless told, falling back to HTTP for a loopback host only', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseImageRef('127.0.0.1:5000/team/app:v1'), {
      base: 'https://127.0.0.1:5000',
      registry: '127.0.0.1:5000',
      repository: 'team/app',
      tag: 'v1',
      httpFallback: true,
    });
    assert.deepEqual(parseImageRef('localhost/app'), {
      base: 'https://localhost',
      registry: 'localhost',
      repository: 'app',
      httpFallback: true,
    });
    assert.deepEqual(parseImageRef('[::1]:5000/a/b/c@' + digest), {
      base: 'https://[::1]:5000',
      registry: '[::1]:5000',
      repository: 'a/b/c',
      digest,
      httpFallback: true,
    });
    assert.deepEqual(parseImageRef('registry.example.com/team/app:1.2_x-y'), {
      base: 'https://registry.example.com',
      registry: 'registry.example.com',
      repository: 'team/app',
      tag: '1.2_x-y',
    });
    assert.deepEqual(parseImageRef('http://reg.internal:8080/app:v1@' + digest), {
      base: 'http://reg.internal:8080',
      registry: 'reg.internal:8080',
      repository: 'app',
      tag: 'v1',
      digest,
    });
    assert.equal(parseImageRef('https://localhost:5443/app:v1').base, 'https://localhost:5443');
    assert.equal(parseImageRef('127.0.0.1:5000/my.team/app__x-y:v1').repository, 'my.team/app__x-y');
  });

  it('rejects bad references with CliErrors that say what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['app:v1', /expected REGISTRY\/REPOSITORY/],
      ['127.0.0.1:5000/Team/app:v1', /bad repository name "Team\/app"/],
      ['127.0.0.1:5000/team//app', /bad repository name/],
      ['127.0.0.1:5000/team/app:-v1', /bad tag "-v1"/],
      ['127.0.0.1:5000/team/app:' + 'x'.repeat(129), /bad tag/],
      ['127.0.0.1:5000/team/app@sha256:abc', /digest must be sha256/],
      ['127.0.0.1:5000/team/app@md5:' + 'a'.repeat(32), /digest must be sha256/],
      ['bad host!/team/app:v1', /bad registry host "bad host!"/],
      ['127.0.0.1:5000/', /bad repository name ""/],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseImageRef(input),
        (e: unknown) => e instanceof CliError && message.test(e.message) && e.message.includes(JSON.stringify(input)),
        input,
      );
    }
  });
});
