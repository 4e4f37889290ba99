import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cliMain } from './support/process.js';
import { poll as until, ready, send, TwoRegions } from './support/spawn.js';
import { pushBlocksImage, streamedDigest } from './support/blocks.js';
import { apiPaths } from 'georeg/oci';

const BLOB = 256 * 1024 * 1024;

describe('replication survives kill -9 of the receiving region in the middle of a blob (e2e)', function () {
  this.timeout(240_000);
  let regions: TwoRegions | undefined;

  after(() => regions?.close());

  it('resumes the staged copy after a restart and ends with an intact blob', async () => {
    const started = await TwoRegions.start(cliMain);
    regions = started.regions;
    let us = started.us;

    const euUrl = regions.url.eu;
    const usUrl = regions.url.us;
    const digest = await pushBlocksImage(euUrl, 'big/one', 'v1', BLOB);

    // Kill us while the blob is on its way (some of it staged, not all).
    await until(120_000, 'the copy to be under way', async () => {
      const s = (await (await fetch(`${usUrl}${apiPaths.replication()}`)).json()) as { peers: { bytesInFlight: number }[] };
      return (s.peers[0]?.bytesInFlight ?? 0) > 16 * 1024 * 1024 ? true : undefined;
    });
    us.kill('SIGKILL');
    await new Promise((r) => us.once('exit', r));
    // The copy is staged under an id derived from the digest (UploadService.ingest).
    const stagedBytes = (await stat(join(regions.dataDir, 'us', 'uploads', `r-${digest.slice('sha256:'.length, 'sha256:'.length + 60)}`)))
      .size;
    assert.ok(stagedBytes > 0 && stagedBytes < BLOB, `part of the blob is staged (${stagedBytes} bytes)`);
    assert.equal((await fetch(`${usUrl}${apiPaths.base()}`).catch(() => undefined))?.status, undefined, 'us is down');

    us = regions.serve('us');
    let log = '';
    us.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    await ready(us, /"msg":"replicating"/);
    await until(180_000, 'the image to reach us', async () =>
      (await send('HEAD', `${usUrl}${apiPaths.manifest('big/one', 'v1')}`)) === 200 ? true : undefined,
    );

    assert.equal(await streamedDigest(`${usUrl}${apiPaths.blob('big/one', digest)}`), digest, 'the blob in us is intact');
    assert.doesNotMatch(log, /DIGEST_INVALID|digest did not match/, 'the resumed copy verified the first time (no start-over)');
    assert.deepEqual(
      (await readdir(join(regions.dataDir, 'us', 'uploads'))).filter((f) => f.startsWith('r-')),
      [],
      'the staged copy was committed',
    );
  });
});
