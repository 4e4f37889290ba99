import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, type S3StorageConfig } from '../config.js';
import { S3BlobDriver } from './s3-driver.js';
import { readSecretFile } from './secret-file.js';
import { statusOf } from './s3-answers.js';

/**
 * The S3 driver `storage.s3` names, once its bucket answered (it is not created: a bucket's region,
 * policy and lifecycle are the operator's). The access key pair is read from its files here and kept
 * only in the SDK's client: never in the config, never in an error. Without the files the SDK's
 * default chain finds credentials (environment, shared files, instance or container role).
 */
export async function openS3Driver(s3: S3StorageConfig): Promise<S3BlobDriver> {
  const credentials = s3.accessKeyIdFile
    ? {
        accessKeyId: readSecretFile('storage.s3.accessKeyIdFile', s3.accessKeyIdFile),
        secretAccessKey: readSecretFile('storage.s3.secretAccessKeyFile', s3.secretAccessKeyFile),
      }
    : undefined;
  const client = new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint && { endpoint: s3.endpoint }),
    ...(credentials && { credentials }),
  });
  const where = s3.endpoint || `AWS S3 (${s3.region})`;
  try {
    return await S3BlobDriver.open({ client, name: s3.bucket, prefix: s3.prefix });
  } catch (e) {
    client.destroy();
    throw new ConfigError(`storage.s3: cannot reach bucket ${s3.bucket} at ${where}: ${describe(e)}`, { cause: e });
  }
}

/** What went wrong: S3's error name and status (a HEAD's answer has no body, so no message: NotFound, or Unknown for a 403). */
function describe(e: unknown): string {
  const { name, message } = e as Error;
  const status = statusOf(e);
  return `${name}${status ? ` (HTTP ${status})` : ''}${message && message !== name && message !== 'UnknownError' ? `: ${message}` : ''}`;
}
