import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3RVER_KEY_ID, S3RVER_REGION, S3RVER_SECRET, startS3rver, type S3rver } from 'georeg/test-support';
import { S3BlobDriver, type S3DriverOptions } from '../../src/storage/s3-driver.js';
import type { Bucket } from '../../src/storage/s3-objects.js';
import type { StorageBackend } from './driver-suite.js';

export interface S3rverAccess {
  /** The running server (inside the tests of the describe). */
  server(): S3rver;
  /** A client of its own, as another node would have. */
  client(): S3Client;
  /** A fresh, empty bucket, reached through a client of its own. */
  bucket(prefix?: string): Promise<Bucket>;
  /** What s3rver keeps for the bucket, read from its directory: the objects' keys, and the files of multipart uploads not completed. */
  held(bucket: string): Promise<string[]>;
  /** Remove a bucket and all it holds. */
  drop(bucket: string): Promise<void>;
  /** A fresh bucket with a driver over it, as the driver suite wants it. */
  backend(options?: S3DriverOptions & { prefix?: string }): Promise<StorageBackend>;
}

/** s3rver for the enclosing describe: started before its tests, stopped after them. */
export function withS3rver(): S3rverAccess {
  let s3rver: S3rver | undefined;
  const clients: S3Client[] = [];
  before(async function () {
    this.timeout(30_000);
    s3rver = await startS3rver();
  });
  after(async () => {
    clients.forEach((c) => c.destroy());
    await s3rver?.stop();
  });

  const server = (): S3rver => {
    if (!s3rver) throw new Error('s3rver runs only inside the tests of the describe that asked for it');
    return s3rver;
  };
  const client = (): S3Client => {
    const c = new S3Client({
      endpoint: server().endpoint,
      region: S3RVER_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY_ID, secretAccessKey: S3RVER_SECRET },
    });
    clients.push(c);
    return c;
  };
  const bucket = async (prefix = ''): Promise<Bucket> => {
    const name = `t-${randomBytes(8).toString('hex')}`;
    const c = client();
    await c.send(new CreateBucketCommand({ Bucket: name }));
    return { client: c, name, prefix };
  };
  const held = async (name: string): Promise<string[]> => {
    const root = join(server().dir, name);
    const files = (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1));
    // An object is its bytes (KEY._S3rver_object), metadata and MD5 files; anything else is held too.
    return files
      .filter((f) => !/\._S3rver_(metadata\.json|object\.md5)$/.test(f))
      .map((f) => f.replace(/\._S3rver_object$/, ''))
      .sort();
  };
  const drop = (name: string): Promise<void> => rm(join(server().dir, name), { recursive: true, force: true });
  return {
    server,
    client,
    bucket,
    held,
    drop,
    async backend({ prefix, ...options } = {}) {
      const b = await bucket(prefix);
      const driver = new S3BlobDriver(b, options);
      return {
        blobs: driver,
        staging: driver,
        held: () => held(b.name),
        cleanup: () => drop(b.name),
      };
    },
  };
}
