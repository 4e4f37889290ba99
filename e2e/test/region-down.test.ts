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

/** What these tests read of GET /georeg/v1/replication. */
interface Status {
  stream: { messages: number; firstSeq: number; lastSeq: number; oldest?: string } | null;
  peers: { pendingEvents: number; applied: number; repairs: number; failures: number }[];
}

async function status(base: string): Promise<Status> {
  return (await (await fetch(`${base}${apiPaths.replication()}`)).json()) as Status;
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
    const caughtUp = await status(usUrl);
    await poll(30_000, 'no pending events', async () => ((await status(usUrl)).peers[0]?.pendingEvents === 0 ? true : undefined));
    assert.equal(caughtUp.peers[0]?.failures, 0, 'nothing failed on the way');
  });
});

describe("a region down for longer than its peer's stream keeps events is repaired by anti-entropy (e2e)", function () {
  this.timeout(120_000);
  const STREAM_SECONDS = 3;
  let regions: TwoRegions | undefined;

  after(() => regions?.close());

  it('the events it missed are gone from the stream, and it ends with the same tags and digests', async () => {
    const started = await TwoRegions.start(cliMain, {
      // Anti-entropy runs at start and then every 2 s instead of 5 minutes: the repair never waits on the default.
      settings: { GEOREG_REPLICATION_STREAM_MAX_AGE_SECONDS: String(STREAM_SECONDS), GEOREG_REPLICATION_ANTI_ENTROPY_SECONDS: '2' },
    });
    regions = started.regions;
    const { eu: euUrl, us: usUrl } = regions.url;
    const us = started.us;
    us.kill('SIGTERM');
    await new Promise((r) => us.once('exit', r));
    const digests = new Map<string, string>();
    for (let i = 0; i < 10; i++) digests.set(`v${i}`, (await pushImage(euUrl, 'fleet/app', `v${i}`, [`layer ${i} `])).digest);
    for (let i = 0; i < 2; i++) assert.equal(await send('DELETE', `${euUrl}${apiPaths.manifest('fleet/app', `v${i}`)}`), 202);
    const published = 10 * 2 + 2; // a manifest and its tag per push, a tag delete per delete

    // The one wait on time: the stream's age limit must pass. eu's status (from its JetStream) says when
    // the stream's first sequence is past every event us missed.
    const stream = await poll(
      60_000,
      "eu's stream to drop the events us missed",
      async () => {
        const s = (await status(euUrl)).stream;
        return s && s.lastSeq >= published && s.firstSeq > s.lastSeq ? s : undefined;
      },
      250,
    );
    assert.equal(stream.messages, 0);
    assert.equal(stream.oldest, undefined);

    const back = regions.serve('us');
    await ready(back, /"msg":"replicating"/);
    const expected = (await tags(euUrl, 'fleet/app')).sort();
    assert.equal(expected.length, 8);
    await poll(60_000, 'us to hold every tag eu holds, and no other', async () =>
      JSON.stringify((await tags(usUrl, 'fleet/app')).sort()) === JSON.stringify(expected) ? true : undefined,
    );
    for (const tag of expected) {
      const res = await fetch(`${usUrl}${apiPaths.manifest('fleet/app', tag)}`, { method: 'HEAD' });
      assert.equal(res.headers.get('docker-content-digest'), digests.get(tag), `${tag} has the same digest in us`);
    }
    const [fromEu] = (await status(usUrl)).peers;
    assert.equal(fromEu?.applied, 0, 'no event was left to apply: anti-entropy did it all');
    assert.ok((fromEu?.repairs ?? 0) >= expected.length, `repairs: ${fromEu?.repairs}`);
    assert.equal(fromEu?.failures, 0);
  });
});
