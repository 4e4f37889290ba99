import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { copyFileRange, copyFileRangeDirect } from '../../src/storage/copy.js';

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
        // As a microtask: after the copier has queued what it queues, but not after whatever else the
        // event loop runs first (under load that took over 1 ms, which made a "fast" read slow).
        if (ms === 0) void Promise.resolve().then(fill);
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
    // One read ahead; a read that a GC pause happens to hold past 1 ms counts as slow and may add a second.
    assert.ok(file.maxInFlight() <= 2, `reads in flight: ${file.maxInFlight()}`);
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

describe('storage: copyFileRangeDirect (O_DIRECT reads of a real file)', () => {
  let dir: string;
  let path: string;
  /** Not a multiple of 4096, so the last read ends at a partial block. */
  const size = 5 * MiB + 12345;
  const content = Buffer.alloc(size);
  for (let i = 0; i < size; i++) content[i] = (i * 7 + (i >> 12)) & 0xff;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-direct-'));
    path = join(dir, 'blob');
    await writeFile(path, content);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function copyDirect(start: number, end: number, sink: Writable): Promise<boolean> {
    const fd = await open(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      return await copyFileRangeDirect(fd, sink, start, end);
    } finally {
      await fd.close();
    }
  }

  it('copies any range, whatever its alignment, byte for byte', async () => {
    const ranges = [
      [0, size - 1],
      [1, size - 2],
      [4095, 4096],
      [4096, 3 * MiB + 1],
      [MiB - 1, MiB],
      [size - 1, size - 1],
      [123, 4000],
    ] as const;
    for (const [start, end] of ranges) {
      const { sink, bytes } = collectingSink();
      assert.equal(await copyDirect(start, end, sink), true, 'direct I/O on this filesystem');
      assert.ok(bytes().equals(content.subarray(start, end + 1)), `${start}-${end}`);
    }
  });

  it('stops with an error when the file is shorter than the range', async () => {
    const { sink } = collectingSink();
    await assert.rejects(copyDirect(0, size + MiB, sink), /shorter than expected/);
  });

  it('keeps copying correctly after copies whose sinks failed, and eight at once', async () => {
    for (let i = 0; i < 10; i++) {
      const sink = new Writable({
        write(_chunk, _encoding, done) {
          done(new Error('peer went away'));
        },
      });
      sink.on('error', () => undefined);
      await assert.rejects(copyDirect(0, size - 1, sink), /peer went away|sink closed/);
    }
    const sinks = Array.from({ length: 8 }, () => collectingSink());
    await Promise.all(sinks.map((s, i) => copyDirect(i, size - 1 - i, s.sink)));
    sinks.forEach((s, i) => assert.ok(s.bytes().equals(content.subarray(i, size - i)), `copy ${i}`));
  });

  it('declines, writing nothing, where the reads refuse O_DIRECT (EINVAL), so the caller can use the page cache', async () => {
    const refusing = {
      read: () => Promise.reject(Object.assign(new Error('invalid argument'), { code: 'EINVAL' })),
    } as unknown as FileHandle;
    const { sink, bytes } = collectingSink();
    assert.equal(await copyFileRangeDirect(refusing, sink, 0, size - 1), false);
    assert.equal(bytes().length, 0);
    // and its slot is free again: eight copies still run direct
    const sinks = Array.from({ length: 8 }, () => collectingSink());
    assert.deepEqual(await Promise.all(sinks.map((s2) => copyDirect(0, 4095, s2.sink))), Array(8).fill(true));
  });

  it('declines, writing nothing, while eight direct copies hold the aligned buffers', async () => {
    const gates: (() => void)[] = [];
    const held = Array.from({ length: 8 }, () => {
      const parts: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          parts.push(Buffer.from(chunk));
          gates.push(done); // each copy waits on its first write
        },
      });
      return { sink, parts };
    });
    const running = held.map((h) => copyDirect(0, size - 1, h.sink));
    while (gates.length < 8) await new Promise((r) => setImmediate(r));
    const ninth = collectingSink();
    assert.equal(await copyDirect(0, size - 1, ninth.sink), false);
    assert.equal(ninth.bytes().length, 0);
    // Let the eight finish: every write is released as it comes.
    const release = setInterval(() => gates.splice(0).forEach((g) => g()), 1);
    try {
      assert.deepEqual(await Promise.all(running), Array(8).fill(true));
    } finally {
      clearInterval(release);
    }
    held.forEach((h) => assert.ok(Buffer.concat(h.parts).equals(content)));
  });
});
