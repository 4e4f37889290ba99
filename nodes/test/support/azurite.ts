import { randomBytes } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from 'georeg/test-support';
import { AzureBlobDriver, type AzureDriverOptions } from '../../src/storage/azure-driver.js';
import type { StorageBackend } from './driver-suite.js';

export interface AzuriteAccess {
  /** The running emulator (inside the tests of the describe). */
  server(): Azurite;
  /** A client of a fresh, empty container. */
  container(): Promise<ContainerClient>;
  /** A client of its own (as another node would have) of the container `name`. */
  client(name: string): ContainerClient;
  /** A fresh container with a driver over it, as the driver suite wants it. */
  backend(options?: AzureDriverOptions): Promise<StorageBackend>;
}

/** Azurite for the enclosing describe: started before its tests, stopped after them. */
export function withAzurite(): AzuriteAccess {
  let azurite: Azurite | undefined;
  before(async function () {
    this.timeout(30_000);
    azurite = await startAzurite();
  });
  after(async () => azurite?.stop());

  const server = (): Azurite => {
    if (!azurite) throw new Error('Azurite runs only inside the tests of the describe that asked for it');
    return azurite;
  };
  const client = (name: string): ContainerClient =>
    new BlobServiceClient(server().url, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient(name);
  const container = async (): Promise<ContainerClient> => {
    const c = client(`t-${randomBytes(8).toString('hex')}`);
    await c.create();
    return c;
  };
  return {
    server,
    container,
    client,
    async backend(options) {
      const c = await container();
      const driver = new AzureBlobDriver(c, options);
      return { blobs: driver, staging: driver, held: () => heldIn(c), cleanup: async () => void (await c.delete()) };
    },
  };
}

/** Every blob name in the container, blobs with only uncommitted blocks included. */
export async function heldIn(container: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ includeUncommitedBlobs: true })) names.push(blob.name);
  return names;
}
