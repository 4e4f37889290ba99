import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { copyFileRange } from '../../src/storage/copy.js';

const MiB = 1024 * 1024;

/** A file of `size` bytes (byte i, where i is a multiple of 4099, is i % 251) whose reads take `ms` (0: at once); counts reads in flight. */
function slowFile(size: number, ms: number): { fd: FileHandle; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const fd = {
    read(buf: Buffer, offset: number, length: number, position: number) {
      inFlight++;
      max = Math.max(max, inFlight);
      return new Promise((resolve) => {
        const fill = (): void => {
          const n = Math.max(0, Math.min(length, size - position));
          for (let i = (4099 - (position % 4099)) % 4099; i < n; i += 4099) buf[offset + i] = (position + i) % 251;
          inFlight--;
          resolve({ bytesRead: n, buffer: buf });
        };
        if (ms === 0) setImmediate(fill);
        else setTimeout(fill, ms);
      });
    },
  } as unknown as FileHandle;
  return { fd, maxInFlight: () => max };
}

function collectingSink(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(Buffer.from(chunk)); // the copy reuses its buffers once this returns
      done();
    },
  });
  return { sink, bytes: () => Buffer.concat(parts) };
}

describe('storage: copyFileRange', () => {
  it('copies a range in order, with one read ahead while reads are fast', async () => {
    const file = slowFile(6 * MiB, 0);
    const { sink, bytes } = collectingSink();
    await copyFileRange(file.fd, sink, 100, 5 * MiB + 99);
    const got = bytes();
    assert.equal(got.length, 5 * MiB);
    for (let i = 0; i < got.length; i++) if ((100 + i) % 4099 === 0) assert.equal(got[i], (100 + i) % 251, `byte ${i}`);
    assert.equal(file.maxInFlight(), 1);
  });

  it('queues up to four reads once reads come slowly (from the disk)', async () => {
    const file = slowFile(12 * MiB, 5);
    const { sink, bytes } = collectingSink();
    await copyFileRange(file.fd, sink, 0, 12 * MiB - 1);
    assert.equal(bytes().length, 12 * MiB);
    assert.equal(file.maxInFlight(), 4);
  });

  it('rejects when the sink fails while a read is pending, leaving no unhandled rejection behind', async () => {
    const file = slowFile(4 * MiB, 20);
    const sink = new Writable({
      write(_chunk, _encoding, done) {
        done(new Error('client went away'));
      },
    });
    sink.on('error', () => undefined);
    let unhandled = 0;
    const count = (): void => {
      unhandled++;
    };
    process.on('unhandledRejection', count);
    try {
      await assert.rejects(copyFileRange(file.fd, sink, 0, 4 * MiB - 1), /client went away|sink closed/);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', count);
    }
    assert.equal(unhandled, 0);
  });

  it('stops with an error when the file is shorter than the range', async () => {
    const file = slowFile(MiB, 0);
    const { sink } = collectingSink();
    await assert.rejects(copyFileRange(file.fd, sink, 0, 2 * MiB - 1), /shorter than expected/);
  });
});
