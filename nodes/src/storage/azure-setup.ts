import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { ConfigError, type AzureStorageConfig } from '../config.js';
import { AzureBlobDriver } from './azure-driver.js';
import { readSecretFile } from './secret-file.js';

/**
 * The Azure driver `storage.azure` names, its container created when absent. The account key
 * (or the connection string holding it) is read from its file here and kept only in the SDK's
 * credential: never in the config, never in an error.
 */
export async function openAzureDriver(azure: AzureStorageConfig): Promise<AzureBlobDriver> {
  const service = azure.connectionStringFile
    ? fromConnectionString(readSecretFile('storage.azure.connectionStringFile', azure.connectionStringFile))
    : new BlobServiceClient(
        azure.url,
        new StorageSharedKeyCredential(azure.accountName, readSecretFile('storage.azure.accountKeyFile', azure.accountKeyFile)),
      );
  if (azure.redirect && !(service.credential instanceof StorageSharedKeyCredential))
    throw new ConfigError('storage.azure.redirect signs URLs with the account key: the connection string must hold an AccountKey');
  try {
    return await AzureBlobDriver.open(service.getContainerClient(azure.container));
  } catch (e) {
    throw new ConfigError(`storage.azure: cannot open container ${azure.container} at ${service.url}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function fromConnectionString(connectionString: string): BlobServiceClient {
  try {
    return BlobServiceClient.fromConnectionString(connectionString);
  } catch {
    // Its message could quote the string, key and all.
    throw new ConfigError('storage.azure.connectionStringFile: not a valid Azure Storage connection string');
  }
}
