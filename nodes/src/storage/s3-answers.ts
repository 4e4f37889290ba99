/** What S3's answers mean to the driver: absent (404), a range past the end (416), or an error to pass on. */
import { S3ServiceException } from '@aws-sdk/client-s3';
import { orUndefined } from './absent.js';

export function statusOf(e: unknown): number | undefined {
  return e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined;
}

/** The promise's value, or undefined when S3 answered 404 (NoSuchKey, NotFound); other errors propagate unchanged. */
export function orAbsent<T>(p: Promise<T>): Promise<T | undefined> {
  return orUndefined(p, (e) => statusOf(e) === 404);
}
