/**
 * An upload staged in S3 as pieces: objects `uploads/<id>/<offset>` (the offset in 16 decimal
 * digits, so keys sort as offsets do) holding its bytes [offset, offset + size). Every piece is
 * `pieceBytes` long but the last, which may be shorter (possibly empty: an upload just created). A
 * piece is one PutObject, all or nothing, and readable at once by any node, which an open multipart
 * upload's parts are not (S3 lists their sizes, never their bytes): so any node can size, hash or
 * continue an upload from the bucket alone, and a commit makes them the parts of a multipart upload
 * (s3-assemble.ts), all at least the 5 MiB S3 asks of every part but the last.
 *
 * An append rewrites a short last piece with its bytes followed by the new ones (holding at most one
 * piece of it in memory), then puts full pieces one after another while the next fills (pieces.ts,
 * one in flight), so a failure leaves the pieces a prefix of the bytes, never a gap.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { hashToDigest, newHash, type Algorithm, type Digest } from 'georeg/oci';
import { checkUploadId, UPLOAD_ID } from './checks.js';
import { sendInPieces } from './pieces.js';
import { objects, openObject, readObject, type Bucket } from './s3-objects.js';

export const UPLOADS = 'uploads/';

/** One object of an upload: its bytes [offset, offset + size). */
export interface Piece {
  key: string;
  offset: number;
  size: number;
  etag: string;
}

export interface Appended {
  /** The upload's size after the append. */
  size: number;
  /** The ETag of the last piece put, when one was. */
  etag?: string;
  /** The source's error, when it failed after giving bytes that are now staged. */
  sourceError?: unknown;
}

/** The id and offset a key of the uploads stands for; undefined for any other key. */
export function pieceNamed(bucket: Bucket, key: string): { id: string; offset: number } | undefined {
  const [id = '', offset = '', ...rest] = key.slice(bucket.prefix.length + UPLOADS.length).split('/');
  return UPLOAD_ID.test(id) && /^\d{16}$/.test(offset) && rest.length === 0 ? { id, offset: Number(offset) } : undefined;
}

export function pieceKey(bucket: Bucket, id: string, offset: number): string {
  return `${bucket.prefix}${UPLOADS}${checkUploadId(id)}/${String(offset).padStart(16, '0')}`;
}

/** An upload's pieces in offset order; none when it does not exist. */
export async function listPieces(bucket: Bucket, id: string): Promise<Piece[]> {
  const pieces: Piece[] = [];
  for await (const { Key, Size, ETag } of objects(bucket, `${UPLOADS}${checkUploadId(id)}/`)) {
    const named = pieceNamed(bucket, Key);
    if (named) pieces.push({ key: Key, offset: named.offset, size: Size, etag: ETag });
  }
  return pieces.sort((a, b) => a.offset - b.offset);
}

/** The size of the upload the pieces make. */
export function sizeOf(pieces: Piece[]): number {
  const last = pieces.at(-1);
  return last ? last.offset + last.size : 0;
}

/**
 * The upload's version as a node that appended to it last remembers it: its size and its last
 * piece's ETag (any append after that one changes at least one of them).
 */
export function versionOf(size: number, etag: string): string {
  return `${size}/${etag}`;
}

/** The digest of the bytes the pieces hold, read back and hashed as they stream. */
export async function hashPieces(bucket: Bucket, pieces: Piece[], alg: Algorithm): Promise<Digest> {
  const hash = newHash(alg);
  for (const piece of pieces) {
    for await (const chunk of (await openObject(bucket, piece.key)).body as AsyncIterable<Buffer>) hash.update(chunk);
  }
  return hashToDigest(hash, alg);
}

/** Append everything `source` gives to the upload of `pieces` (not empty), each `onBytes` first (a running hash). */
export async function appendPieces(
  bucket: Bucket,
  id: string,
  pieces: Piece[],
  source: Readable,
  pieceBytes: number,
  onBytes?: (bytes: Buffer) => void,
): Promise<Appended> {
  const size = sizeOf(pieces);
  const last = pieces.at(-1) as Piece;
  const short = last.size < pieceBytes;
  const head = short && last.size > 0 ? await readObject(bucket, last.key) : undefined;
  let at = short ? last.offset : size;
  let etag: string | undefined;
  const put = async (piece: Buffer): Promise<void> => {
    const key = pieceKey(bucket, id, at);
    at += piece.length;
    ({ ETag: etag } = await bucket.client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: piece, ContentLength: piece.length }),
    ));
  };
  const cut = await sendInPieces(source, pieceBytes, put, { inFlight: 1, onBytes, head });
  return { size: cut.bytes > 0 ? at : size, etag, ...(cut.sourceError !== undefined && { sourceError: cut.sourceError }) };
}
