/** The objects of one bucket under a key prefix, as the S3 driver reads them. */
import { GetObjectCommand, paginateListObjectsV2, type _Object, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';

/** Where a driver keeps its objects: a client, its bucket, and the prefix of every key (empty or ending in `/`). */
export interface Bucket {
  client: S3Client;
  name: string;
  prefix: string;
}

/** Every object whose key starts with the prefix and then `under`, page by page. */
export async function* objects(
  bucket: Bucket,
  under: string,
): AsyncIterable<Required<Pick<_Object, 'Key' | 'Size' | 'ETag' | 'LastModified'>>> {
  for await (const page of paginateListObjectsV2({ client: bucket.client }, { Bucket: bucket.name, Prefix: bucket.prefix + under })) {
    for (const { Key, Size = 0, ETag = '', LastModified = new Date(0) } of page.Contents ?? []) {
      if (Key !== undefined) yield { Key, Size, ETag, LastModified };
    }
  }
}

/** An object's bytes as a stream, once S3 answered (Body is Node's IncomingMessage). */
export async function openObject(
  bucket: Bucket,
  key: string,
  range?: string,
): Promise<{ body: Readable; contentRange?: string; length: number }> {
  const res = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key, Range: range }));
  return { body: res.Body as Readable, contentRange: res.ContentRange, length: res.ContentLength ?? 0 };
}

/** A small object's bytes in memory (a piece: at most one part's worth). */
export async function readObject(bucket: Bucket, key: string): Promise<Buffer> {
  const res = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
  const bytes = (await res.Body?.transformToByteArray()) ?? new Uint8Array();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
