/**
 * Black box: `georeg serve` with its blobs in Azure Blob Storage (a real Azurite on a port of its
 * choosing), pushed to and pulled from with the real skopeo, the offline test image
 * /tmp/lab-images/small; pulled back byte for byte, through the node and, with
 * storage.azure.redirect, straight from the storage service.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from 'georeg/test-support';
import { GeoregNode } from './support/process.js';
import { Skopeo } from './support/skopeo.js';
import { blobGets, requireSmallImage, roundTrip, stopAfter } from './support/storage-round-trip.js';

describe('georeg serve on Azure Blob Storage (Azurite), with skopeo (e2e, black box)', function () {
  this.timeout(120_000);
  let azurite: Azurite;
  let tmp: string;
  let skopeo: Skopeo;
  let node: GeoregNode | undefined;

  before(async function () {
    requireSmallImage();
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-azure-'));
    await writeFile(join(tmp, 'account.key'), AZURITE_KEY);
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
    azurite = await startAzurite();
  });
  afterEach(async function () {
    const stopping = node;
    node = undefined;
    await stopAfter(this.currentTest, stopping);
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

  it('pushes with skopeo and pulls back byte-identical, the bytes going through the node', async () => {
    const n = await start('plain', false);
    const manifest = await roundTrip(skopeo, n, 'azure/small', join(tmp, 'plain'));
    const gets = blobGets(n, manifest);
    assert.ok(gets.length > 0 && gets.every((s) => s === 200), `blob GETs answered ${gets.join(', ')}`);
    assert.ok(!n.stderr().includes(AZURITE_KEY), 'the account key is in no log line');
  });

  it('with storage.azure.redirect, skopeo downloads the layers from the storage service by 307', async () => {
    const n = await start('redirected', true);
    const manifest = await roundTrip(skopeo, n, 'azure/small', join(tmp, 'redirected'));
    const gets = blobGets(n, manifest);
    assert.ok(gets.length > 0 && gets.every((s) => s === 307), `blob GETs answered ${gets.join(', ')}`);
    assert.ok(!/[?&]sig=/.test(n.stderr()), 'no signed URL is logged');
  });
});
