/**
 * Black box: `georeg serve` with its blobs in Azure Blob Storage (a real Azurite on a port of its
 * choosing), pushed to and pulled from with the real skopeo, the offline test image
 * /tmp/lab-images/small; pulled back byte for byte, through the node and, with
 * storage.azure.redirect, straight from the storage service.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AZURITE_ACCOUNT, AZURITE_KEY, sha256, startAzurite, type Azurite } from 'georeg/test-support';
import { GeoregNode } from './support/process.js';
import { layoutBlob, layoutRef, Skopeo, type OciManifest } from './support/skopeo.js';

const SMALL = join(process.env['IMAGES'] ?? '/tmp/lab-images', 'small');

describe('georeg serve on Azure Blob Storage (Azurite), with skopeo (e2e, black box)', function () {
  this.timeout(120_000);
  let azurite: Azurite;
  let tmp: string;
  let skopeo: Skopeo;
  let node: GeoregNode | undefined;

  before(async function () {
    if (!existsSync(join(SMALL, 'index.json'))) throw new Error(`test image ${SMALL} missing: run \`node scripts/ensure-tools.mjs\``);
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-azure-'));
    await writeFile(join(tmp, 'account.key'), AZURITE_KEY);
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
    azurite = await startAzurite();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && node) process.stderr.write(`\n${node.stderrTail()}\n`);
    const exit = await node?.stop();
    node = undefined;
    if (exit) assert.deepEqual(exit, { code: 0, signal: null }, 'the node exits cleanly on SIGTERM');
  });
  after(async () => {
    await azurite?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A node over its own container; `redirect` sends blob GETs to the storage service. */
  const start = async (container: string, redirect: boolean): Promise<GeoregNode> =>
    (node = await GeoregNode.start({
      name: container,
      env: {
        GEOREG_STORAGE_DRIVER: 'azure',
        GEOREG_STORAGE_AZURE_URL: azurite.url,
        GEOREG_STORAGE_AZURE_ACCOUNT_NAME: AZURITE_ACCOUNT,
        GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: join(tmp, 'account.key'),
        GEOREG_STORAGE_AZURE_CONTAINER: container,
        GEOREG_STORAGE_AZURE_REDIRECT: String(redirect),
      },
    }));

  /** Push the small image, pull it back to an oci: layout; the pulled manifest and blobs are the source's, byte for byte. */
  async function roundTrip(n: GeoregNode, out: string): Promise<OciManifest> {
    const ref = `docker://${n.hostPort}/azure/small:v1`;
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, ref]);
    await skopeo.run(['copy', '--src-tls-verify=false', ref, `oci:${join(tmp, out)}:pulled`]);
    const source = await layoutRef(SMALL, 'latest');
    assert.equal((await layoutRef(join(tmp, out), 'pulled')).digest, source.digest);
    const manifest = JSON.parse((await layoutBlob(SMALL, source.digest)).toString('utf8')) as OciManifest;
    for (const { digest } of [manifest.config, ...manifest.layers]) {
      const pulled = await layoutBlob(join(tmp, out), digest);
      assert.ok(pulled.equals(await layoutBlob(SMALL, digest)), `blob ${digest} pulled byte for byte`);
      assert.equal(sha256(pulled), digest);
    }
    await n.syncLog();
    return manifest;
  }

  /** The statuses the node answered blob GETs of `digests` with. */
  const blobGets = (n: GeoregNode, digests: string[]): number[] =>
    n
      .requests()
      .filter((r) => r['method'] === 'GET' && digests.some((d) => String(r['path']).endsWith(`/blobs/${d}`)))
      .map((r) => Number(r['status']));

  it('pushes with skopeo and pulls back byte-identical, the bytes going through the node', async () => {
    const n = await start('plain', false);
    const manifest = await roundTrip(n, 'plain');
    const gets = blobGets(
      n,
      [manifest.config, ...manifest.layers].map((d) => d.digest),
    );
    assert.ok(gets.length > 0 && gets.every((s) => s === 200), `blob GETs answered ${gets.join(', ')}`);
    assert.ok(!n.stderr().includes(AZURITE_KEY), 'the account key is in no log line');
  });

  it('with storage.azure.redirect, skopeo downloads the layers from the storage service by 307', async () => {
    const n = await start('redirected', true);
    const manifest = await roundTrip(n, 'redirected');
    const gets = blobGets(
      n,
      [manifest.config, ...manifest.layers].map((d) => d.digest),
    );
    assert.ok(gets.length > 0 && gets.every((s) => s === 307), `blob GETs answered ${gets.join(', ')}`);
    assert.ok(!/[?&]sig=/.test(n.stderr()), 'no signed URL is logged');
  });
});
