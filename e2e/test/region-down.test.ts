import assert from 'node:assert/strict';
import { pushImage } from 'georeg/test-support';
import { cliMain } from './support/process.js';
import { poll, ready, send, TwoRegions } from './support/spawn.js';
import { apiPaths } from 'georeg/oci';

const IMAGES = 100;

async function tags(base: string, repo: string): Promise<string[]> {
  const res = await fetch(`${base}${apiPaths.tags(repo)}`);
  return res.status === 200 ? ((await res.json()) as { tags: string[] }).tags : [];
}

describe('a region that was down while 100 images were pushed and 10 tags deleted elsewhere catches up (e2e)', function () {
  this.timeout(240_000);
  let regions: TwoRegions | undefined;

  after(() => regions?.close());

  it('ends with the same tags and the same digests in both regions', async () => {
    const started = await TwoRegions.start(cliMain);
    regions = started.regions;
    let us = started.us;
    const euUrl = regions.url.eu;
    const usUrl = regions.url.us;

    // us goes down (gracefully: a region taken out for maintenance).
    us.kill('SIGTERM');
    await new Promise((r) => us.once('exit', r));
    const digests = new Map<string, string>();
    // Each image has one layer of its own.
    for (let i = 0; i < IMAGES; i++)
      digests.set(`v${i}`, (await pushImage(euUrl, 'fleet/app', `v${i}`, [`layer ${i} `.repeat(200)])).digest);
    for (let i = 0; i < 10; i++) assert.equal(await send('DELETE', `${euUrl}${apiPaths.manifest('fleet/app', `v${i}`)}`), 202);

    us = regions.serve('us');
    await ready(us, /"msg":"replicating"/);
    const expected = (await tags(euUrl, 'fleet/app')).sort();
    assert.equal(expected.length, IMAGES - 10);
    await poll(180_000, 'us to hold every tag eu holds, and no other', async () =>
      JSON.stringify((await tags(usUrl, 'fleet/app')).sort()) === JSON.stringify(expected) ? true : undefined,
    );
    for (const tag of expected) {
      const res = await fetch(`${usUrl}${apiPaths.manifest('fleet/app', tag)}`, { method: 'HEAD' });
      assert.equal(res.headers.get('docker-content-digest'), digests.get(tag), `${tag} has the same digest in us`);
    }
    const status = (await (await fetch(`${usUrl}${apiPaths.replication()}`)).json()) as {
      peers: { pendingEvents: number; failures: number }[];
    };
    await poll(30_000, 'no pending events', async () => {
      const s = (await (await fetch(`${usUrl}${apiPaths.replication()}`)).json()) as { peers: { pendingEvents: number }[] };
      return s.peers[0]?.pendingEvents === 0 ? true : undefined;
    });
    assert.equal(status.peers[0]?.failures, 0, 'nothing failed on the way');
  });
});
