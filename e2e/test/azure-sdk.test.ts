/**
 * Real-client interop (issue 5): the Azure SDK's `@azure/container-registry` content client
 * against a black-box `georeg serve` over HTTPS with authentication on.
 *
 *  - TLS: `georeg certs dev` makes a throwaway CA; the in-process clients trust it through the
 *    SDK's pipeline option `tlsOptions: { ca }` (core-rest-pipeline's tlsPolicy, applied to the
 *    registry calls and the /oauth2 calls alike); the anonymous client runs in a child Node
 *    process that trusts it through NODE_EXTRA_CA_CERTS, which only works from process start.
 *  - Credential: a TokenCredential handing the SDK a georeg refresh token (from
 *    `GET /oauth2/token?offline_token=true` with a scoped token's Basic credentials). The SDK
 *    trades it at `POST /oauth2/exchange` for a refresh token, and that at `POST /oauth2/token`
 *    for an access token per challenge scope.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ContainerRegistryContentClient,
  KnownManifestMediaType,
  type ContainerRegistryContentClientOptions,
} from '@azure/container-registry';
import { sha256 } from 'georeg/test-support';
import { runNode as run, type ServeProcess } from './support/serve.js';
import { createToken, readAll, refreshTokenCredential, startSecureNode, type SecureNode } from './support/azure-sdk.js';

type AdditionalPolicy = NonNullable<ContainerRegistryContentClientOptions['additionalPolicies']>[number];

const anonymousScript = join(dirname(fileURLToPath(import.meta.url)), 'support', 'azure-sdk-anonymous.js');

/** What the SDK put on the wire, seen from inside its pipeline (after auth, per attempt). No secrets: form field names only. */
interface Sent {
  method: string;
  url: string;
  contentType?: string;
  contentRange?: string;
  bodyBytes?: number;
  formFields?: string[];
  bearer: boolean;
  status: number;
  location?: string;
  wwwAuthenticate?: string;
}

function recorder(into: Sent[]): AdditionalPolicy {
  return {
    position: 'perRetry',
    policy: {
      name: 'georegTestRecorder',
      async sendRequest(request, next) {
        const s: Sent = {
          method: request.method,
          url: request.url,
          bearer: (request.headers.get('authorization') ?? '').startsWith('Bearer '),
          status: 0,
        };
        const ct = request.headers.get('content-type');
        if (ct) s.contentType = ct;
        const cr = request.headers.get('content-range');
        if (cr) s.contentRange = cr;
        if (typeof request.body === 'string' && ct?.startsWith('application/x-www-form-urlencoded'))
          s.formFields = [...new URLSearchParams(request.body).keys()];
        else if (Buffer.isBuffer(request.body)) s.bodyBytes = request.body.length;
        into.push(s);
        const response = await next(request);
        s.status = response.status;
        const loc = response.headers.get('location');
        if (loc) s.location = loc.replace(/_state=[^&]+/, '_state=…');
        const wa = response.headers.get('www-authenticate');
        if (wa) s.wwwAuthenticate = wa;
        return response;
      },
    },
  };
}

describe('Azure SDK (@azure/container-registry) content client over HTTPS with auth (e2e, black box)', function () {
  this.timeout(60_000);
  let tmp: string;
  let secure: SecureNode;
  let caFile: string;
  let ca: string;
  let node: ServeProcess | undefined;
  let endpoint: string;
  let tokenSecret: string;
  const sent: Sent[] = [];
  let logMark = 0;
  const getTokenCalls: string[][] = [];
  let client: ContainerRegistryContentClient;
  const dump = (): string =>
    `--- access log ---\n${node?.summary(logMark) ?? ''}\n--- SDK sent ---\n${sent.map((s) => `${s.method} ${s.url} -> ${s.status}`).join('\n')}`;

  // Content shared by the steps.
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
  const small = randomBytes(5 * 1024 + 17);
  const big = randomBytes(9 * 1024 * 1024 + 4321); // three 4 MiB PATCH chunks
  let manifestBytes: Buffer;
  let manifestDigest: string;

  const georegCredential = (name: string, secret: string) => refreshTokenCredential(secure, name, secret, getTokenCalls);

  function contentClient(repository: string, extra: ContainerRegistryContentClientOptions = {}): ContainerRegistryContentClient {
    return new ContainerRegistryContentClient(endpoint, repository, georegCredential('sdk-ci', tokenSecret), {
      tlsOptions: { ca },
      additionalPolicies: [recorder(sent)],
      ...extra,
    });
  }

  before(async function () {
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-azure-sdk-'));
    secure = await startSecureNode(tmp);
    ({ node, endpoint, ca, caFile } = secure);
    // A scoped token (ACR style) through the admin API, with the administrator's Basic credentials.
    tokenSecret = await createToken(secure, 'sdk-ci', [
      { repositories: ['sdk/**'], actions: ['pull', 'push', 'delete'] },
      { repositories: ['public/**'], actions: ['pull', 'push'] },
    ]);
    logMark = node.output.length;
    client = contentClient('sdk/app');
  });

  after(async function () {
    this.timeout(30_000);
    const code = node ? await node.stop() : 0;
    if (tmp) await rm(tmp, { recursive: true, force: true });
    if (process.env['GEOREG_TEST_TRACE']) console.log(dump());
    assert.equal(code, 0, 'georeg serve exits cleanly on SIGTERM');
  });

  it('without the CA the SDK refuses the certificate', async () => {
    const untrusted = new ContainerRegistryContentClient(endpoint, 'sdk/app', georegCredential('sdk-ci', tokenSecret), {
      retryOptions: { maxRetries: 0 },
    });
    await assert.rejects(untrusted.getManifest('v1'), (e: Error & { code?: string }) => {
      assert.match(`${e.code} ${e.message}`, /self[- ]signed|unable to verify|certificate/i);
      return true;
    });
  });

  it('uploads blobs (one of them in several 4 MiB chunks) and downloads the same bytes', async () => {
    const mark = sent.length;
    for (const blob of [config, small, big]) {
      const up = await client.uploadBlob(blob);
      assert.equal(up.digest, sha256(blob), dump());
      assert.equal(up.sizeInBytes, blob.length);
    }
    for (const blob of [config, small, big]) {
      const down = await client.downloadBlob(sha256(blob));
      assert.equal(down.digest, sha256(blob));
      const bytes = await readAll(down.content);
      assert.equal(bytes.length, blob.length);
      assert.ok(bytes.equals(blob), 'downloaded bytes differ');
    }
    // The big blob went up as PATCHes of 4 MiB, 4 MiB and the rest, without Content-Range, then an empty PUT ?digest=.
    const patches = sent.slice(mark).filter((s) => s.method === 'PATCH' && s.status === 202);
    assert.deepEqual(patches.map((p) => p.bodyBytes).slice(-3), [4 * 1024 * 1024, 4 * 1024 * 1024, big.length - 8 * 1024 * 1024], dump());
    assert.ok(
      patches.every((p) => p.contentRange === undefined && p.location?.startsWith('/v2/sdk/app/blobs/uploads/')),
      dump(),
    );
    const puts = sent.slice(mark).filter((s) => s.method === 'PUT' && s.status === 201);
    assert.equal(puts.length, 3, dump());
    assert.ok(
      puts.every((p) => /[?&]digest=sha256%3A[0-9a-f]{64}/.test(p.url)),
      dump(),
    );
  });

  it('sets a manifest with a tag and gets it by tag and by digest (digest and bytes checked)', async () => {
    manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: KnownManifestMediaType.OciImageManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(small), size: small.length },
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(big), size: big.length },
        ],
      }),
    );
    manifestDigest = sha256(manifestBytes);
    const set = await client.setManifest(manifestBytes, { tag: 'v1', mediaType: KnownManifestMediaType.OciImageManifest });
    assert.equal(set.digest, manifestDigest, dump());
    for (const ref of ['v1', manifestDigest]) {
      const got = await client.getManifest(ref);
      assert.equal(got.digest, manifestDigest);
      assert.equal(got.mediaType, KnownManifestMediaType.OciImageManifest);
      assert.ok(got.content.equals(manifestBytes), `manifest bytes by ${ref}`);
      assert.equal((got.manifest as { layers: unknown[] }).layers.length, 2);
    }
  });

  it('the credential is traded through /oauth2/exchange and /oauth2/token; a push outside the token scope is refused', async () => {
    assert.ok(getTokenCalls.length >= 1, dump());
    assert.deepEqual(getTokenCalls[0], ['https://containerregistry.azure.net/.default']);
    const exchange = sent.filter((s) => s.url.includes('/oauth2/exchange'));
    const token = sent.filter((s) => s.url.includes('/oauth2/token'));
    assert.ok(exchange.length >= 1 && exchange.every((s) => s.status === 200 && s.method === 'POST'), dump());
    assert.deepEqual(exchange[0]?.formFields?.sort(), ['access_token', 'grant_type', 'service'], dump());
    assert.ok(token.length >= 1 && token.every((s) => s.status === 200 && s.method === 'POST'), dump());
    assert.deepEqual(token[0]?.formFields?.sort(), ['grant_type', 'refresh_token', 'scope', 'service'], dump());
    // Every /v2 call that was challenged was retried with a bearer token, and succeeded.
    const challenged = sent.filter((s) => s.status === 401);
    assert.ok(
      challenged.every((s) => /^Bearer realm="[^"]+",service="georeg",scope="repository:sdk\/app:[a-z,]+"/.test(s.wwwAuthenticate ?? '')),
      dump(),
    );

    const outside = contentClient('team/app', { retryOptions: { maxRetries: 0 } });
    await assert.rejects(outside.uploadBlob(Buffer.from('not allowed here')), (e: { statusCode?: number }) => {
      assert.ok(e.statusCode === 401 || e.statusCode === 403, `status ${e.statusCode}`);
      return true;
    });
  });

  it('anonymously pulls from public/** (child process trusting the CA via NODE_EXTRA_CA_CERTS); an anonymous push is refused', async () => {
    // Push public/base:latest with the authenticated client first.
    const pub = contentClient('public/base');
    for (const blob of [config, small]) await pub.uploadBlob(blob);
    const pubManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: KnownManifestMediaType.OciImageManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(small), size: small.length }],
      }),
    );
    assert.equal((await pub.setManifest(pubManifest, { tag: 'latest' })).digest, sha256(pubManifest));

    const mark = node!.output.length;
    const child = await run([anonymousScript, endpoint, 'public/base', 'latest', sha256(small)], { NODE_EXTRA_CA_CERTS: caFile });
    assert.equal(child.code, 0, `${child.stderr}\n${child.stdout}\n${node!.summary(mark)}`);
    const out = JSON.parse(child.stdout.trim().split('\n').pop() as string) as {
      manifest: { digest: string; mediaType: string; sha256: string };
      blob: { digest: string; length: number; sha256: string };
      push: { refused: boolean; statusCode?: number };
    };
    assert.deepEqual(out.manifest, {
      digest: sha256(pubManifest),
      mediaType: KnownManifestMediaType.OciImageManifest,
      sha256: sha256(pubManifest).slice(7),
    });
    assert.deepEqual(out.blob, { digest: sha256(small), length: small.length, sha256: sha256(small).slice(7) });
    assert.equal(out.push.refused, true);
    assert.equal(out.push.statusCode, 401, JSON.stringify(out.push));
    // The pulls needed no token; the push was challenged, the anonymous token (grant_type=password) granted no push.
    // (The access log holds the path as sent: the SDK percent-encodes the name and the digest.)
    const log = node!
      .requests(mark)
      .map((r) => `${String(r['method'])} ${decodeURIComponent(String(r['path']))} -> ${String(r['status'])}`);
    assert.ok(log.includes('GET /v2/public/base/manifests/latest -> 200'), log.join('\n'));
    assert.ok(log.includes(`GET /v2/public/base/blobs/${sha256(small)} -> 200`), log.join('\n'));
    assert.ok(log.includes('POST /v2/public/base/blobs/uploads/ -> 401'), log.join('\n'));
    assert.ok(log.includes('POST /oauth2/token -> 200'), log.join('\n'));
    assert.ok(!log.some((l) => l.startsWith('PATCH ') || l.endsWith('/blobs/uploads/ -> 202')), log.join('\n'));

    // The same anonymous client on a repository outside anonymous pull gets nothing: its first GET is refused.
    const refused = await run([anonymousScript, endpoint, 'sdk/app', 'v1', sha256(small)], { NODE_EXTRA_CA_CERTS: caFile });
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, /401|unauthorized|authentication required/i);
  });

  it('deletes a manifest and a blob', async () => {
    await client.deleteManifest(manifestDigest);
    await assert.rejects(client.getManifest(manifestDigest), (e: { statusCode?: number }) => e.statusCode === 404);
    await client.deleteBlob(sha256(big));
    await assert.rejects(
      client.downloadBlob(sha256(big)).then((d) => readAll(d.content)),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });
});
