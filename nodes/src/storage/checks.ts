import { oci, type OciError } from 'georeg/oci';
import type { ByteRange } from './driver.js';

/** Upload ids: what UploadService generates, and all a driver accepts (no path can hide in one). */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function blobUnknown(digest: string): OciError {
  return oci('BLOB_UNKNOWN', undefined, { digest });
}

export function uploadUnknown(id: string): OciError {
  return oci('BLOB_UPLOAD_UNKNOWN', undefined, { id: id.slice(0, 64) });
}

/** The id itself when valid; BLOB_UPLOAD_UNKNOWN otherwise. */
export function checkUploadId(id: string): string {
  if (!UPLOAD_ID.test(id)) throw uploadUnknown(id);
  return id;
}

/** A range a driver may serve: `0 <= start <= end < size`, else RANGE_INVALID. */
export function checkRange({ start, end }: ByteRange, size: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end < size)) {
    throw oci('RANGE_INVALID', undefined, { start, end, size });
  }
}
