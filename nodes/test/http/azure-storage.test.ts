import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { apiPaths, queryString } from 'georeg/oci';
import { AZURITE_ACCOUNT, AZURITE_KEY } from 'georeg/test-support';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushBlob, sha256 } from '../support/client.js';
import { heldIn, withAzurite } from '../support/azurite.js';
import { defaultConfig, ConfigError, type AzureStorageConfig } from '../../src/config.js';

/** Nodes whose blobs and uploads live in a container of a real Azurite. */
describe('a node storing blobs in Azure Blob Storage (Azurite)', function () {
  this.timeout(60_000);
  const azurite = withAzurite();
  let dir: string;
  let container: ContainerClient;
  let node: TestNode | undefined;
  const blob = randomBytes(2 * 1024 * 1024 + 5); // past the 1 MiB a node sends from memory: the streamed path
  const repo = 'team/app';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-azure-'));
    await writeFile(join(dir, 'account.key'), `${AZURITE_KEY}\n`);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    container = await azurite.container();
  });
  afterEach(async () => {
    await node?.close();
    node = undefined;
    await container.delete();
  });

  const settings = (extra: Partial<AzureStorageConfig> = {}): AzureStorageConfig => ({
    ...defaultConfig.storage.azure,
    url: azurite.server().url,
    accountName: AZURITE_ACCOUNT,
    accountKeyFile: join(dir, 'account.key'),
    container: container.containerName,
    ...extra,
  });
  const start = async (extra: Partial<AzureStorageConfig> = {}): Promise<TestNode> =>
    (node = await startTestNode({ storage: { driver: 'azure', azure: settings(extra) } }));

  it('serves pushed blobs from the container, and stores nothing under a digest its bytes do not have', async () => {
    const n = await start();
    const digest = await pushBlob(n.url, repo, blob);
    const hex = digest.slice('sha256:'.length);
    assert.deepEqual(await heldIn(container), [`blobs/sha256/${hex.slice(0, 2)}/${hex}`], 'the upload is gone, the blob in place');
    const res = await http('GET', `${n.url}${apiPaths.blob(repo, digest)}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(blob));
    const part = await http('GET', `${n.url}${apiPaths.blob(repo, digest)}`, { headers: { Range: 'bytes=1048570-1048580' } });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(blob.subarray(1048570, 1048581)));

    const wrong = await http('POST', `${n.url}${apiPaths.uploads(repo)}${queryString({ digest: sha256('something else') })}`, {
      body: blob.subarray(1),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expectError(wrong, 400, 'DIGEST_INVALID');
    assert.equal((await http('HEAD', `${n.url}${apiPaths.blob(repo, sha256(blob.subarray(1)))}`)).status, 404);
    assert.deepEqual(await heldIn(container), [`blobs/sha256/${hex.slice(0, 2)}/${hex}`], 'nothing of the refused upload is left');
  });

  it('with storage.azure.redirect, answers a blob GET 307 to a SAS URL of that blob that plain fetch downloads; HEAD stays local', async () => {
    const n = await start({ redirect: true, redirectTtlSeconds: 120 });
    const digest = await pushBlob(n.url, repo, blob);
    const res = await http('GET', `${n.url}${apiPaths.blob(repo, digest)}`);
    assert.equal(res.status, 307);
    assert.equal(res.header('content-length'), '0');
    assert.equal(res.body.length, 0);
    assert.equal(res.header('docker-content-digest'), digest);
    const location = new URL(res.header('location') ?? '');
    assert.equal(location.origin, new URL(azurite.server().url).origin);
    assert.ok(location.pathname.endsWith(`/${container.containerName}/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`));
    assert.equal(location.searchParams.get('sp'), 'r', 'read-only');
    const expires = Date.parse(location.searchParams.get('se') ?? '');
    assert.ok(Math.abs(expires - (Date.now() + 120_000)) < 5_000, `expires ${location.searchParams.get('se')}, in about 120 s`);

    const download = await fetch(location); // no credentials but the URL's own
    assert.equal(download.status, 200);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(blob));
    const ranged = await http('GET', `${n.url}${apiPaths.blob(repo, digest)}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 307);
    const slice = await fetch(ranged.header('location') ?? '', { headers: { Range: 'bytes=10-19' } });
    assert.equal(slice.status, 206);
    assert.ok(Buffer.from(await slice.arrayBuffer()).equals(blob.subarray(10, 20)));

    const head = await http('HEAD', `${n.url}${apiPaths.blob(repo, digest)}`);
    assert.equal(head.status, 200);
    assert.equal(head.header('content-length'), String(blob.length));
    assert.equal(head.header('location'), undefined);
    expectError(await http('GET', `${n.url}${apiPaths.blob('other/repo', digest)}`), 404, 'BLOB_UNKNOWN'); // not linked there
    const metrics = (await http('GET', `${n.url}/metrics`)).body.toString();
    assert.match(metrics, /^georeg_routing_redirects_total\{reason="storage"\} 2$/m);
  });

  it('refuses to start with an unreadable key file or an account it cannot open, naming the setting and never the key', async () => {
    await assert.rejects(start({ accountKeyFile: join(dir, 'absent.key') }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^storage\.azure\.accountKeyFile: cannot read .*absent\.key: ENOENT/);
      return true;
    });
    const wrongKey = join(dir, 'wrong.key');
    await writeFile(wrongKey, randomBytes(64).toString('base64'));
    await assert.rejects(start({ accountKeyFile: wrongKey }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^storage\.azure: cannot open container t-[0-9a-f]+ at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1/);
      assert.ok(!e.message.includes(AZURITE_KEY));
      return true;
    });
  });
});
