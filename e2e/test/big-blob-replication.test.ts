import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { cliMain } from './support/process.js';
import { poll as until, send, TwoRegions } from './support/spawn.js';
import { pushBlocksImage, streamedDigest } from './support/blocks.js';
import { apiPaths } from 'georeg/oci';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Resident memory of a process now, MiB (Linux /proc). */
async function rssMiB(pid: number): Promise<number> {
  const kb = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

describe('a 1 GiB blob replicates with flat memory (e2e)', function () {
  this.timeout(300_000);
  let regions: TwoRegions | undefined;

  after(() => regions?.close());

  it('arrives intact in the other region, whose node (and its replicator) stays under 200 MiB resident', async () => {
    const started = await TwoRegions.start(cliMain);
    regions = started.regions;
    const pid = started.us.pid as number;
    const before = await rssMiB(pid);
    let peak = before;
    const sampler = setInterval(
      () =>
        void rssMiB(pid).then(
          (m) => (peak = Math.max(peak, m)),
          () => undefined,
        ),
      50,
    );
    try {
      const digest = await pushBlocksImage(regions.url.eu, 'big/gib', 'v1', GiB);
      const us = regions.url.us;
      await until(
        240_000,
        'the 1 GiB image to reach us',
        async () => ((await send('HEAD', `${us}${apiPaths.manifest('big/gib', 'v1')}`)) === 200 ? true : undefined),
        100,
      );
      clearInterval(sampler);
      const status = (await (await fetch(`${us}${apiPaths.replication()}`)).json()) as { peers: { bytes: number }[] };
      assert.ok((status.peers[0]?.bytes ?? 0) >= GiB, 'the bytes came from eu, not from anywhere else');
      assert.equal(await streamedDigest(`${us}${apiPaths.blob('big/gib', digest)}`), digest, 'the blob in us is intact');
      // Memory is flat: a node that buffered the blob would grow by a GiB.
      assert.ok(peak < 200, `peak resident memory of us ${peak.toFixed(0)} MiB (before the copy ${before.toFixed(0)} MiB)`);
      assert.ok(peak - before < 128, `us grew by ${(peak - before).toFixed(0)} MiB while copying ${GiB / MiB} MiB`);
    } finally {
      clearInterval(sampler);
    }
  });
});
