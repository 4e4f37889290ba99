import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from 'georeg/oci';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/**
 * `total` random bytes in 64 KiB chunks that, at each MiB, look how far they have been read ahead of
 * what `stored()` says reached the store: how much a driver holds in memory while it appends.
 */
export function measuredSource(total: number, stored: () => Promise<number>): { source: Readable; widest(): number; digest(): Digest } {
  const hash = createHash('sha256');
  let widest = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let produced = 0; produced < total; produced += CHUNK) {
      if (produced % MiB === 0) widest = Math.max(widest, produced - (await stored()));
      const chunk = randomBytes(CHUNK);
      hash.update(chunk);
      yield chunk;
    }
  }
  return { source: Readable.from(chunks()), widest: () => widest, digest: () => `sha256:${hash.digest('hex')}` as Digest };
}
