/**
 * s3rver (npm `s3rver`), an S3 API over a directory, as a real S3-compatible store for tests: on
 * 127.0.0.1, a port of its choosing (`-p 0`, read from the line it prints once listening), with its
 * data in a fresh temp directory that `stop()` removes. Buckets are made by the tests (CreateBucket).
 *
 * What it does not do that the S3 driver could use (lib/routes.js, lib/middleware/authentication.js
 * of s3rver 3.7): UploadPartCopy (NotImplemented), AbortMultipartUpload, ListParts and
 * ListMultipartUploads; conditional writes (If-Match, If-None-Match on PUT are ignored); SigV4
 * signatures are not checked (any signature, or none, is let in; a presigned URL's expiry is); part
 * sizes are not checked (S3 refuses parts under 5 MiB but the last). It also writes an object in
 * place as its bytes arrive, where S3 shows an object only once whole.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startChildServer } from './child-server.js';

/** The access key pair s3rver accepts (published in its README; not a secret). */
export const S3RVER_KEY_ID = 'S3RVER';
export const S3RVER_SECRET = 'S3RVER';
/** Any region will do: s3rver has one. */
export const S3RVER_REGION = 'us-east-1';

export interface S3rver {
  /** Its endpoint, e.g. http://127.0.0.1:41234 (path-style: forcePathStyle). */
  endpoint: string;
  /** Its data directory: a bucket's objects and multipart uploads are files under `<dir>/<bucket>`. */
  dir: string;
  /** Stop it and remove its data. */
  stop(): Promise<void>;
}

const LISTENING = /S3rver listening on ([\d.]+):(\d+)/;

/** Start s3rver on 127.0.0.1, port 0; resolves once it listens. Rejects, with its output, if it exits first. */
export async function startS3rver(): Promise<S3rver> {
  const bin = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const { match, dir, stop } = await startChildServer(
    's3rver',
    (data) => [bin, '-d', data, '-a', '127.0.0.1', '-p', '0', '--silent'],
    LISTENING,
  );
  return { endpoint: `http://${match[1] as string}:${match[2] as string}`, dir, stop };
}
