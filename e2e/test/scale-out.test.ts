/**
 * Black box: a region of two `georeg serve` nodes over one PostgreSQL database and one Azure
 * container (a real Azurite), publishing to a real nats-server, behind a `georeg front`: a chunked
 * upload whose requests alternate between the nodes; kill -9 of the node publishing the region's
 * events (the outbox lease) while pushes go on through the other; kill -9 of a node while a
 * client that retries as registry clients do pushes through the front; GC run again and again on one node while the other pushes
 * images of old, unreferenced blobs. Each test is a region of its own: its own schema, container and stream.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  createTestDatabase,
  http,
  pushBlob,
  pushImage,
  sha256,
  startAzurite,
  startNatsServer,
  type Azurite,
  type NatsServerProcess,
  type PushedImage,
  type TestDatabase,
} from 'georeg/test-support';
import { chunkedUpload, finishUpload } from './support/chunked-upload.js';
import { readStream, MANIFEST_PUT, TAG_PUT } from './support/event-stream.js';
import { startFrontProcess, type FrontProcess } from './support/front-process.js';
import { GeoregNode, type LogRecord } from './support/process.js';
import { poll } from './support/spawn.js';

const LEASE_TAKEN = "publishing this region's outbox (lease taken)";
const leaseTaken = (r: LogRecord): boolean => r.msg === LEASE_TAKEN;

describe('a region of two nodes over one database and one Azure container, behind georeg front (e2e, black box)', function () {
  this.timeout(90_000);
  let tmp: string, azurite: Azurite, db: TestDatabase, nats: NatsServerProcess;
  let nodes: GeoregNode[] = [];
  const killed = new Set<GeoregNode>();
  let front: FrontProcess | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-scale-out-'));
    await writeFile(join(tmp, 'account.key'), AZURITE_KEY);
    [azurite, db, nats] = await Promise.all([
      startAzurite(),
      createTestDatabase(),
      startNatsServer(['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(tmp, 'jetstream')], tmp),
    ]);
  });
  afterEach(async function () {
    await front?.stop();
    front = undefined;
    for (const n of nodes) {
      if (this.currentTest?.state === 'failed') process.stderr.write(`\n${n.stderrTail()}\n`);
      const exit = await n.stop();
      if (!killed.has(n)) assert.deepEqual(exit, { code: 0, signal: null }, `${n.name} exits cleanly on SIGTERM`);
    }
    nodes = [];
  });
  after(async () => {
    nats?.child.kill('SIGKILL');
    await Promise.all([azurite?.stop(), db?.drop()]);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const natsUrl = (): string => `nats://127.0.0.1:${nats.port}`;

  /** A region of its own: a fresh schema of the test database, a container and a stream named after it; `node()` starts a node of it. */
  async function region(name: string, more: Record<string, string> = {}): Promise<{ node(label: string): Promise<GeoregNode> }> {
    const urlFile = join(tmp, `${name}.pg-url`);
    await writeFile(urlFile, await db.schema());
    const env = {
      GEOREG_REGION: name,
      GEOREG_NATS_URL: natsUrl(),
      GEOREG_META_DRIVER: 'postgres',
      GEOREG_META_POSTGRES_URL_FILE: urlFile,
      GEOREG_STORAGE_DRIVER: 'azure',
      GEOREG_STORAGE_AZURE_URL: azurite.url,
      GEOREG_STORAGE_AZURE_ACCOUNT_NAME: AZURITE_ACCOUNT,
      GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: join(tmp, 'account.key'),
      GEOREG_STORAGE_AZURE_CONTAINER: `georeg-${name}`,
      ...more,
    };
    return {
      node: async (label) => {
        const n = await GeoregNode.start({ name: `${name}-${label}`, env });
        nodes.push(n);
        return n;
      },
    };
  }

  const kill = (n: GeoregNode): void => {
    killed.add(n);
    process.kill(n.pid as number, 'SIGKILL');
  };

  it('completes a chunked upload whose POST, PATCHes and PUT alternate between the nodes, with the right digest', async () => {
    const r = await region('chunks');
    const [a, b] = [await r.node('a'), await r.node('b')];
    front = await startFrontProcess([a.url, b.url]);
    const chunks = [randomBytes(300_000), randomBytes(200_000), randomBytes(100_000), randomBytes(50_000)];
    const digest = sha256(Buffer.concat(chunks));

    const { path } = await chunkedUpload([a, b], 'scale/app', chunks); // b continues what a wrote and the other way round
    await finishUpload(a, path, digest); // a's own running hash saw only chunks 0 and 2

    const marks = [a.mark(), b.mark()];
    for (let i = 0; i < 2; i++) {
      const pulled = await http('GET', `${front.url}${apiPaths.blob('scale/app', digest)}`);
      assert.equal(pulled.status, 200, pulled.body.toString());
      assert.equal(sha256(pulled.body), digest, 'the pulled bytes hash to the digest');
    }
    await Promise.all([a.syncLog(), b.syncLog()]);
    const gets = [a, b].map((n, i) => n.requests(marks[i]).filter((q) => q['method'] === 'GET' && String(q['path']).includes(digest)));
    assert.deepEqual(
      gets.map((g) => g.length),
      [1, 1],
      'the front sent one GET to each node',
    );
  });

  it('kill -9 of the node publishing the outbox: the other takes the lease, and every event reaches the stream exactly once', async () => {
    const r = await region('lease');
    const a = await r.node('a');
    if (!a.records().some(leaseTaken)) await a.waitForLog(leaseTaken, 10_000);
    const b = await r.node('b');
    const takenByB = b.waitForLog(leaseTaken, 30_000);
    const stream = 'GEOREG_EVENTS_LEASE';
    const pushes: PushedImage[] = [];
    let killedAt = 0;
    for (let i = 0; i < 24; i++) {
      pushes.push(await pushImage(b.url, 'lease/app', `v${i}`));
      if (i === 3) {
        // a publishes what b commits: wait until it has, so the lease is a's and a is at work.
        await poll(10_000, 'a publishing b’s first events', async () =>
          (await readStream(natsUrl(), stream).catch(() => [])).length > 0 ? true : undefined,
        );
      }
      if (i === 7) {
        killedAt = Date.now();
        kill(a);
      }
    }
    const taken = await takenByB;
    const tookMs = Date.parse(String(taken.time)) - killedAt;
    assert.ok(tookMs < 5000, `b took the lease ${tookMs} ms after a was killed`);

    const expected = pushes.flatMap((p, i) => [`${MANIFEST_PUT} ${p.digest}`, `${TAG_PUT} v${i}`]);
    const events = await poll(20_000, 'every push’s events in the stream', async () => {
      const all = await readStream(natsUrl(), stream);
      const seen = new Set(all.map((e) => `${e.action} ${e.action === TAG_PUT ? e.tag : e.digest}`));
      return expected.every((x) => seen.has(x)) ? all : undefined;
    });
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'event ids are unique');
    assert.ok(
      events.every((e) => e.msgId === e.id),
      'each message is sent with its event id as Nats-Msg-Id',
    );
    const ofPushes = events.filter((e) => e.repository === 'lease/app' && (e.action === MANIFEST_PUT || e.action === TAG_PUT));
    assert.deepEqual(
      ofPushes.map((e) => `${e.action} ${e.action === TAG_PUT ? e.tag : e.digest}`).sort(),
      [...expected].sort(),
      'each push’s MANIFEST_PUT and TAG_PUT exactly once',
    );
  });

  it('kill -9 of one node during pushes through the front: every push succeeds (the client retries) and pulls back', async () => {
    const r = await region('kill');
    const [a, b] = [await r.node('a'), await r.node('b')];
    front = await startFrontProcess([a.url, b.url]);
    const url = front.url;
    let retries = 0;
    /** A push as a registry client makes it: what fails (a 503 from the front, a cut connection) is begun again after Retry-After. */
    const push = async (repo: string, tag: string, layers: Buffer[]): Promise<PushedImage> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pushImage(url, repo, tag, layers);
        } catch (e) {
          if (attempt > 3) throw e;
          retries++;
          await new Promise((res) => setTimeout(res, 1000));
        }
      }
    };
    const images = [0, 1, 2, 3].flatMap((p) =>
      [0, 1, 2, 3, 4].map((i) => ({ repo: `kill/p${p}`, tag: `v${i}`, layers: [randomBytes(512 * 1024), randomBytes(256 * 1024)] })),
    );
    let finished = 0;
    const pushed = new Map<string, PushedImage>();
    const pushers = [0, 1, 2, 3].map(async (p) => {
      for (const image of images.filter((x) => x.repo === `kill/p${p}`)) {
        pushed.set(`${image.repo}:${image.tag}`, await push(image.repo, image.tag, image.layers));
        finished++;
      }
    });
    // Once a few pushes are done, at one of a's uploads: others are then on their way to it.
    const uploading = (q: LogRecord): boolean =>
      q.msg === 'request' && q['method'] === 'POST' && String(q['path']).includes('/blobs/uploads/');
    await a.waitForLog((q) => finished >= 4 && uploading(q), 30_000);
    kill(a);
    const unfinished = images.length - finished;
    await Promise.all(pushers);
    assert.ok(unfinished > 0, 'the node was killed while pushes were going on');
    assert.ok(unfinished < images.length, 'and after some had succeeded');

    for (const image of images) {
      const { digest } = pushed.get(`${image.repo}:${image.tag}`) as PushedImage;
      const manifest = await http('GET', `${url}${apiPaths.manifest(image.repo, image.tag)}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(manifest.status, 200, `${image.repo}:${image.tag} (${retries} pushes begun again)`);
      assert.equal(sha256(manifest.body), digest, `${image.repo}:${image.tag}: the manifest pushed`);
      for (const layer of image.layers) {
        const got = await http('GET', `${url}${apiPaths.blob(image.repo, sha256(layer))}`);
        assert.ok(got.status === 200 && got.body.equals(layer), `${image.repo}:${image.tag}: a layer, byte for byte`);
      }
    }
  });

  it('GC again and again on one node while the other pushes images of old, unreferenced blobs: every image pushed pulls fully', async () => {
    const r = await region('gc', { GEOREG_GC_GRACE_SECONDS: '0' }); // every blob nothing references is GC's to take at once
    const [a, b] = [await r.node('a'), await r.node('b')];
    const layers = Array.from({ length: 24 }, () => randomBytes(64 * 1024));
    // Stored through a and linked into gc/seed, without a manifest (and pushImage's config with them): unreferenced...
    await pushImage(a.url, 'gc/seed', 'seed', layers);
    assert.equal((await http('DELETE', `${a.url}${apiPaths.manifest('gc/seed', 'seed')}`)).status, 202);
    const junk = await Promise.all(Array.from({ length: 4 }, () => pushBlob(a.url, 'gc/junk', randomBytes(1024))));

    let pushing = true;
    const runs: { blobsDeleted: string[] }[] = [];
    const collecting = (async () => {
      while (pushing || runs.length < 3) {
        const res = await http('POST', `${a.url}${apiPaths.gc()}`);
        assert.equal(res.status, 200, res.body.toString());
        runs.push(res.json<{ blobsDeleted: string[] }>());
      }
    })();
    // ...and pushed again through b, each into gc/seed (its old links) or gc/app, while a collects.
    const pushed: { repo: string; tag: string; image: PushedImage; layer: Buffer }[] = [];
    let begunAgain = 0;
    try {
      for (const [i, layer] of layers.entries()) {
        const [repo, tag] = [i % 2 ? 'gc/app' : 'gc/seed', `v${i}`];
        for (;;) {
          try {
            pushed.push({ repo, tag, image: await pushImage(b.url, repo, tag, [layer]), layer });
            break;
          } catch (e) {
            // With no grace period, GC may take a blob between its upload and the manifest put: a client then pushes again.
            if (!/^push manifest: 400 .*MANIFEST_BLOB_UNKNOWN/s.test((e as Error).message) || ++begunAgain > 50) throw e;
          }
        }
      }
    } finally {
      pushing = false;
      await collecting;
    }

    for (const { repo, tag, image, layer } of pushed) {
      for (const n of [a, b]) {
        const manifest = await http('GET', `${n.url}${apiPaths.manifest(repo, tag)}`, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        assert.equal(manifest.status, 200, `${repo}:${tag} through ${n.name} (${begunAgain} pushes begun again)`);
        assert.deepEqual(manifest.body, image.manifest);
        for (const [digest, bytes] of [
          [image.config, undefined],
          [sha256(layer), layer],
        ] as const) {
          const blob = await http('GET', `${n.url}${apiPaths.blob(repo, digest)}`);
          assert.equal(blob.status, 200, `${repo}:${tag} ${digest} through ${n.name}`);
          assert.equal(sha256(blob.body), digest);
          if (bytes) assert.ok(blob.body.equals(bytes));
        }
      }
    }
    assert.ok(runs.length >= 3);
    const deleted = new Set(runs.flatMap((run) => run.blobsDeleted));
    assert.ok(
      junk.every((d) => deleted.has(d)),
      'GC took the blobs nothing re-linked',
    );
    const check = await http('POST', `${a.url}${apiPaths.gc()}?dryRun=true`);
    assert.deepEqual(check.json<{ broken: unknown[] }>().broken, []);
  });
});
