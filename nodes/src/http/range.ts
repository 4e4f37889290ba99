import { oci } from 'georeg/oci';
import type { ByteRange } from '../storage/driver.js';
import type { ChunkRange } from '../registry/uploads.js';

const MAX = Number.MAX_SAFE_INTEGER;

function int(s: string): number {
  const n = Number(s);
  if (s.length === 0 || s.length > 16 || !Number.isSafeInteger(n) || n < 0) return NaN;
  return n;
}

/** A position in a Range header (digits): one too large for a number lies past the end of any blob (RFC 9110 §14.1.2). */
function position(s: string): number {
  const n = int(s.replace(/^0+(?=\d)/, ''));
  return Number.isNaN(n) && s.length > 0 ? Infinity : n;
}

/**
 * Parse a `Range: bytes=...` header for a blob of `size` bytes: one range only.
 * Returns undefined when the whole blob should be sent; throws RANGE_INVALID (416)
 * for a malformed, multi-part or unsatisfiable range.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) throw oci('RANGE_INVALID', 'only a single byte range is supported', { size });
  const [, a = '', b = ''] = m;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = position(b);
    if (!(suffix > 0)) throw oci('RANGE_INVALID', undefined, { size });
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = position(a);
    end = b === '' ? size - 1 : Math.min(position(b), size - 1);
    if (Number.isNaN(start) || Number.isNaN(end) || end < start) throw oci('RANGE_INVALID', undefined, { size });
  }
  if (start >= size || size === 0) throw oci('RANGE_INVALID', undefined, { size });
  return { start, end };
}

/** Parse an upload chunk's `Content-Range: <start>-<end>` (a `bytes ` prefix and `/total` are tolerated). */
export function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  const start = m ? int(m[1] ?? '') : NaN;
  const end = m ? int(m[2] ?? '') : NaN;
  if (Number.isNaN(start) || Number.isNaN(end) || end < start || end > MAX) {
    throw oci('BLOB_UPLOAD_RANGE', 'malformed Content-Range', { contentRange: header.slice(0, 64) });
  }
  return { start, end };
}
