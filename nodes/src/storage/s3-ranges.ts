/**
 * A ranged GetObject's answer made exactly the range asked. HTTP lets a server serve more than a
 * Range asks (a 200 with the whole object), and s3rver does for a range ending at byte 0: it reads
 * `bytes=0-0` as "from 0 to the end" (lib/controllers/object.js takes an end of "0" for none), so
 * the bytes before and after the range are dropped here.
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import type { ByteRange } from './driver.js';

/** The bytes an answer holds and the object's size: `bytes START-END/SIZE`, or (none: a 200) the whole of `length`. */
export function served(contentRange: string | undefined, length: number): ByteRange & { size: number } {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } : { start: 0, end: length - 1, size: length };
}

/** `body`, which holds bytes `had` of the object, cut to `want` (within `had`). */
export function cutTo(body: Readable, had: ByteRange, want: ByteRange): Readable {
  if (had.start === want.start && had.end === want.end) return body;
  let at = had.start;
  const cut = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(0, want.start - at);
      const to = Math.min(chunk.length, want.end + 1 - at);
      at += chunk.length;
      done(null, to > from ? chunk.subarray(from, to) : undefined);
    },
  });
  return pipeline(body, cut, () => undefined); // an error of either destroys both, and the reader sees it
}
