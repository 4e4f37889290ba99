/**
 * An upload's pieces made into the object of its blob, which appears whole or not at all: one piece
 * by one PutObject, more as the parts of a multipart upload (CreateMultipartUpload, an UploadPart per
 * piece, CompleteMultipartUpload), whose object S3 shows only once completed. Every byte is hashed on
 * its way, and the object is put or completed only when the bytes hash to the digest: whatever
 * changed the pieces after their digest was verified (another node appending meanwhile), no other
 * bytes ever appear under the digest.
 *
 * The bytes pass through the node (read a piece, send it as a part, the next one read meanwhile: at
 * most three pieces in memory), not UploadPartCopy, which would copy them within S3: s3rver, the
 * store the tests run on, answers NotImplemented to a part PUT with x-amz-copy-source, and the hash
 * on the way is what keeps the digest's promise here.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { digestAlgorithm, hashToDigest, newHash, type Digest } from 'georeg/oci';
import { readObject, type Bucket } from './s3-objects.js';
import type { Piece } from './s3-pieces.js';

/**
 * Put the bytes of `pieces` (in offset order, at least one) at `key` when they hash to `digest`;
 * false, with nothing put, when they do not.
 */
export async function assemble(bucket: Bucket, pieces: Piece[], key: string, digest: Digest): Promise<boolean> {
  const alg = digestAlgorithm(digest);
  const hash = newHash(alg);
  const target = { Bucket: bucket.name, Key: key };
  if (pieces.length === 1) {
    const body = await readObject(bucket, (pieces[0] as Piece).key);
    if (hashToDigest(hash.update(body), alg) !== digest) return false;
    await bucket.client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: body.length }));
    return true;
  }
  const { UploadId } = await bucket.client.send(new CreateMultipartUploadCommand(target));
  if (UploadId === undefined) throw new Error(`CreateMultipartUpload of ${key} answered no UploadId`);
  const upload = { ...target, UploadId };
  try {
    const parts: CompletedPart[] = [];
    let next = readObject(bucket, (pieces[0] as Piece).key);
    for (let n = 1; n <= pieces.length; n++) {
      const body = await next;
      if (n < pieces.length) {
        next = readObject(bucket, (pieces[n] as Piece).key);
        next.catch(() => undefined); // awaited at the next turn; meanwhile a failed part must not leave it unhandled
      }
      hash.update(body);
      const { ETag } = await bucket.client.send(
        new UploadPartCommand({ ...upload, PartNumber: n, Body: body, ContentLength: body.length }),
      );
      parts.push({ PartNumber: n, ETag });
    }
    if (hashToDigest(hash, alg) !== digest) {
      await abort(bucket, upload);
      return false;
    }
    await bucket.client.send(new CompleteMultipartUploadCommand({ ...upload, MultipartUpload: { Parts: parts } }));
    return true;
  } catch (e) {
    await abort(bucket, upload);
    throw e;
  }
}

/**
 * Drop a multipart upload's parts. Best effort: the error that led here is the one to report, and a
 * bucket lifecycle rule (AbortIncompleteMultipartUpload) removes what an abort could not. s3rver
 * does not implement AbortMultipartUpload (it answers MethodNotAllowed) and keeps such parts.
 */
async function abort(bucket: Bucket, upload: { Bucket: string; Key: string; UploadId: string }): Promise<void> {
  await bucket.client.send(new AbortMultipartUploadCommand(upload)).catch(() => undefined);
}
