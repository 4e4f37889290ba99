import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagingFile } from '../../src/storage/staging-file.js';

const MiB = 1024 * 1024;

// Sizes that start, end and straddle 4 KiB blocks and the 1 MiB stage.
const PIECES = [1, 4095, 4097, MiB + 3, 3 * MiB, 7, 65536, 4096, MiB - 5, 2];

// The temp directory's filesystem (ext4 here) does direct I/O.
for (const direct of [true, false]) {
  describe(`StagingFile ${direct ? 'with O_DIRECT' : 'through the page cache'}`, () => {
    let dir: string;
    let path: string;
    beforeEach(async () => {
      dir = await fs.mkdtemp(join(tmpdir(), 'georeg-staging-'));
      path = join(dir, 'upload');
      await fs.writeFile(path, '');
    });
    afterEach(() => fs.rm(dir, { recursive: true, force: true }));

    it(`${direct ? 'writes whole blocks directly and ' : ''}keeps odd-sized appends over several opens byte for byte`, async () => {
      const data = randomBytes(PIECES.reduce((a, b) => a + b, 0));
      let at = 0;
      for (const [i, n] of PIECES.entries()) {
        const file = StagingFile.open(path, direct);
        assert.equal(file.direct, direct);
        assert.equal(file.size, at);
        await file.append(data.subarray(at, at + n / 2));
        await file.append(data.subarray(at + n / 2, at + n));
        at += n;
        assert.equal(await file.close(), at, `size after piece ${i}`);
        assert.equal((await fs.stat(path)).size, at);
      }
      assert.ok((await fs.readFile(path)).equals(data));
    });

    it('never holds a byte that was not received, even before close (a kill leaves a resumable prefix)', async () => {
      const data = randomBytes(2 * MiB + 1234);
      const file = StagingFile.open(path, direct);
      await file.append(data);
      const onDisk = await fs.readFile(path);
      assert.ok(onDisk.length <= data.length);
      assert.ok(onDisk.equals(data.subarray(0, onDisk.length)));
      assert.equal(await file.close(), data.length);
      assert.ok((await fs.readFile(path)).equals(data));
    });

    it('fails with ENOENT for a staging file that does not exist', () => {
      assert.throws(() => StagingFile.open(join(dir, 'absent'), direct), { code: 'ENOENT' });
    });
  });
}
