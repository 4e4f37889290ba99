import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cliMain, freePort } from './support/process.js';
import { poll as until, ready, send, TwoRegions } from './support/spawn.js';

const BLOB = 256 * 1024 * 1024;

/** Deterministic 1 MiB blocks: the blob's digest is known without holding it in memory. */
function* blocks(): Generator<Buffer> {
  const block = Buffer.alloc(1024 * 1024);
  for (let off = 0; off < BLOB; off += block.length) {
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE(((off + i) * 2654435761) >>> 0, i);
    yield block;
  }
}

describe('replication survives kill -9 of the receiving region in the middle of a blob (e2e)', function () {
  this.timeout(240_000);
  let regions: TwoRegions | undefined;

  after(() => regions?.close());

  it('resumes the staged copy after a restart and ends with an intact blob', async () => {
    const started = await TwoRegions.start(cliMain, freePort);
    regions = started.regions;
    let us = started.us;

    const hash = createHash('sha256');
    for (const b of blocks()) hash.update(b);
    const digest = `sha256:${hash.digest('hex')}`;
    const euUrl = regions.url.eu;
    const usUrl = regions.url.us;
    assert.equal(await send('POST', `${euUrl}/v2/big/one/blobs/uploads/?digest=${digest}`, blocks(), { 'Content-Length': BLOB }), 201);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    assert.equal(await send('POST', `${euUrl}/v2/big/one/blobs/uploads/?digest=${configDigest}`, config, { 'Content-Length': config.length }), 201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: BLOB }],
      }),
    );
    assert.equal(await send('PUT', `${euUrl}/v2/big/one/manifests/v1`, manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': manifest.length }), 201);

    // Kill us while the blob is on its way (some of it staged, not all).
    await until(120_000, 'the copy to be under way', async () => {
      const s = (await (await fetch(`${usUrl}/georeg/v1/replication`)).json()) as { peers: { bytesInFlight: number }[] };
      return (s.peers[0]?.bytesInFlight ?? 0) > 16 * 1024 * 1024 ? true : undefined;
    });
    us.kill('SIGKILL');
    await new Promise((r) => us.once('exit', r));
    // The copy is staged under an id derived from the digest (UploadService.ingest).
    const stagedBytes = (await stat(join(regions.dataDir, 'us', 'uploads', `r-${digest.slice('sha256:'.length, 'sha256:'.length + 60)}`))).size;
    assert.ok(stagedBytes > 0 && stagedBytes < BLOB, `part of the blob is staged (${stagedBytes} bytes)`);
    assert.equal((await fetch(`${usUrl}/v2/`).catch(() => undefined))?.status, undefined, 'us is down');

    us = regions.serve('us');
    let log = '';
    us.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    await ready(us, /"msg":"replicating"/);
    await until(180_000, 'the image to reach us', async () => ((await send('HEAD', `${usUrl}/v2/big/one/manifests/v1`)) === 200 ? true : undefined));

    const got = createHash('sha256');
    const res = await fetch(`${usUrl}/v2/big/one/blobs/${digest}`);
    assert.equal(res.status, 200);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) got.update(chunk);
    assert.equal(`sha256:${got.digest('hex')}`, digest, 'the blob in us is intact');
    assert.doesNotMatch(log, /DIGEST_INVALID|digest did not match/, 'the resumed copy verified the first time (no start-over)');
    assert.deepEqual((await readdir(join(regions.dataDir, 'us', 'uploads'))).filter((f) => f.startsWith('r-')), [], 'the staged copy was committed');
  });
});
