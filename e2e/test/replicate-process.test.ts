import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { sha256 } from 'georeg/test-support';
import { cliMain } from './support/process.js';
import { poll as until, ready, send, TwoRegions } from './support/spawn.js';
import { pushBlocksImage, streamedDigest } from './support/blocks.js';
import { apiPaths, queryString } from 'georeg/oci';

const BLOB = 256 * 1024 * 1024;

interface PeerStatus {
  region: string;
  applied: number;
  bytesInFlight: number;
  up: boolean;
  lastError?: string;
}

describe('georeg replicate: replication as its own process beside the node (e2e)', function () {
  this.timeout(240_000);
  let regions: TwoRegions;
  let replicator: ChildProcess;

  const usPeers = async (): Promise<PeerStatus[]> =>
    ((await (await fetch(`${regions.url.us}${apiPaths.replication()}`)).json()) as { peers: PeerStatus[] }).peers;

  before(async () => {
    const started = await TwoRegions.start(cliMain, { external: true });
    regions = started.regions;
    replicator = (started.replicators as Record<'eu' | 'us', ChildProcess>).us;
  });
  after(() => regions?.close());

  it("copies eu's push into us through us's node, which reports the replicate process's status", async () => {
    const layer = randomBytes(300 * 1024);
    const digest = sha256(layer);
    const eu = regions.url.eu;
    assert.equal(
      await send('POST', `${eu}${apiPaths.uploads('team/app')}${queryString({ digest })}`, layer, { 'Content-Length': layer.length }),
      201,
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: layer.length },
        layers: [],
      }),
    );
    assert.equal(
      await send('PUT', `${eu}${apiPaths.manifest('team/app', 'v1')}`, manifest, {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
        'Content-Length': manifest.length,
      }),
      201,
    );
    await until(30_000, 'team/app:v1 in us', async () =>
      (await send('HEAD', `${regions.url.us}${apiPaths.manifest('team/app', 'v1')}`)) === 200 ? true : undefined,
    );
    assert.equal(await streamedDigest(`${regions.url.us}${apiPaths.blob('team/app', digest)}`), digest);
    const peer = await until(10_000, 'a status report counting the events', async () =>
      (await usPeers()).find((p) => p.region === 'eu' && p.applied >= 2 && p.up),
    );
    assert.equal(peer.lastError, undefined);
    const where = (await (await fetch(`${regions.url.us}${apiPaths.where('team/app', 'v1')}`)).json()) as {
      regions: { region: string; state: string }[];
    };
    assert.deepEqual(
      where.regions.map((r) => [r.region, r.state]),
      [
        ['us', 'complete'],
        ['eu', 'complete'],
      ],
      'the node asks its peers itself',
    );
  });

  it('kill -9 of the replicate process mid-blob: the node keeps serving, a new one resumes from the staged offset', async () => {
    const digest = await pushBlocksImage(regions.url.eu, 'big/one', 'v1', BLOB);
    const staged = join(regions.dataDir, 'us', 'uploads', `r-${digest.slice('sha256:'.length, 'sha256:'.length + 60)}`);
    // Under way on both sides: the replicate process reports bytes in flight, and the node has
    // staged some (the replicator's count alone can run megabytes ahead of the node, in buffers).
    await until(120_000, 'the copy to be under way', async () => ((await usPeers())[0]?.bytesInFlight ?? 0) > 0 || undefined);
    await until(
      120_000,
      'the node to stage 16 MiB',
      async () => ((await stat(staged).catch(() => undefined))?.size ?? 0) > 16 * 1024 * 1024 || undefined,
    );
    replicator.kill('SIGKILL');
    await new Promise((r) => replicator.once('exit', r));
    const stagedBytes = (await stat(staged)).size;
    assert.ok(stagedBytes > 0 && stagedBytes < BLOB, `part of the blob is staged (${stagedBytes} bytes)`);
    assert.equal(
      await send('HEAD', `${regions.url.us}${apiPaths.manifest('team/app', 'v1')}`),
      200,
      'the node serves on without its replicator',
    );

    replicator = regions.replicate('us');
    let log = '';
    replicator.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    await ready(replicator, /"msg":"replicating"/);
    await until(180_000, 'the image to reach us', async () =>
      (await send('HEAD', `${regions.url.us}${apiPaths.manifest('big/one', 'v1')}`)) === 200 ? true : undefined,
    );
    assert.equal(await streamedDigest(`${regions.url.us}${apiPaths.blob('big/one', digest)}`), digest, 'the blob in us is intact');
    assert.doesNotMatch(log, /DIGEST_INVALID|digest did not match/, 'the resumed copy verified the first time');
    assert.deepEqual(
      (await readdir(join(regions.dataDir, 'us', 'uploads'))).filter((f) => f.startsWith('r-')),
      [],
      'the staged copy was committed',
    );
  });
});
