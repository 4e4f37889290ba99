/**
 * Black box: `georeg serve` with its metadata in PostgreSQL (a database of its own on the local
 * server, test-support/postgres.ts), its connection string read from a file. The real skopeo pushes
 * the offline test image /tmp/lab-images/small and pulls it back, before and after a restart; and
 * two nodes over one database and one blob directory (as behind a load balancer) share an upload
 * session, so a chunked upload begun on one node is continued and finished on the other.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { createTestDatabase, http, pushImage, sha256, type TestDatabase } from 'georeg/test-support';
import { chunkedUpload, finishUpload } from './support/chunked-upload.js';
import { GeoregNode } from './support/process.js';
import { layoutBlob, layoutRef, Skopeo, type OciManifest } from './support/skopeo.js';

const SMALL = join(process.env['IMAGES'] ?? '/tmp/lab-images', 'small');

describe('georeg serve with metadata in PostgreSQL (e2e, black box)', function () {
  this.timeout(120_000);
  let db: TestDatabase, tmp: string, skopeo: Skopeo;
  const nodes: GeoregNode[] = [];

  before(async () => {
    if (!existsSync(join(SMALL, 'index.json'))) throw new Error(`test image ${SMALL} missing: run \`node scripts/ensure-tools.mjs\``);
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-pg-'));
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
    db = await createTestDatabase();
    await writeFile(join(tmp, 'pg-url'), `${db.url}\n`);
  });
  afterEach(async function () {
    for (const n of nodes.splice(0)) {
      if (this.currentTest?.state === 'failed') process.stderr.write(`\n${n.stderrTail()}\n`);
      assert.deepEqual(await n.stop(), { code: 0, signal: null }, `${n.name} exits cleanly on SIGTERM`);
    }
  });
  after(async () => {
    await db?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A node whose metadata is in the test database and whose blobs are under `blobs` (a directory nodes may share). */
  const start = async (name: string, blobs: string): Promise<GeoregNode> => {
    const node = await GeoregNode.start({
      name,
      args: ['--data', blobs],
      env: { GEOREG_META_DRIVER: 'postgres', GEOREG_META_POSTGRES_URL_FILE: join(tmp, 'pg-url') },
    });
    nodes.push(node);
    return node;
  };

  /** Pull `ref` into a fresh oci: layout: the manifest and every blob are the source's, byte for byte. */
  async function pullsTheSource(ref: string, out: string): Promise<void> {
    await skopeo.run(['copy', '--src-tls-verify=false', ref, `oci:${join(tmp, out)}:pulled`]);
    const source = await layoutRef(SMALL, 'latest');
    assert.equal((await layoutRef(join(tmp, out), 'pulled')).digest, source.digest, `${out}: the manifest`);
    const manifest = JSON.parse((await layoutBlob(SMALL, source.digest)).toString('utf8')) as OciManifest;
    for (const { digest } of [manifest.config, ...manifest.layers]) {
      assert.equal(sha256(await layoutBlob(join(tmp, out), digest)), digest, `${out}: blob ${digest}`);
    }
  }

  it('pushes with skopeo and pulls back the same image, also after the node restarts', async () => {
    const blobs = join(tmp, 'restart');
    const first = await start('pg-node', blobs);
    const ref = (n: GeoregNode): string => `docker://${n.hostPort}/pg/small:v1`;
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, ref(first)]);
    await pullsTheSource(ref(first), 'before-restart');
    assert.deepEqual(await first.stop(), { code: 0, signal: null });
    nodes.splice(nodes.indexOf(first), 1);

    const second = await start('pg-node-restarted', blobs);
    await pullsTheSource(ref(second), 'after-restart');
    const tags = await http('GET', `${second.url}${apiPaths.tags('pg/small')}`);
    assert.deepEqual(tags.json(), { name: 'pg/small', tags: ['v1'] });
  });

  it('continues on one node a chunked upload begun on the other, and finishes it with the right digest', async () => {
    const blobs = join(tmp, 'shared');
    const [a, b] = [await start('node-a', blobs), await start('node-b', blobs)];
    const chunks = [randomBytes(300_000), randomBytes(200_000), randomBytes(100_000)];
    const digest = sha256(Buffer.concat(chunks));

    const { path, size: offset } = await chunkedUpload([a, b, a], 'team/app', chunks); // each node continues what the other wrote
    const status = await http('GET', `${b.url}${path}`);
    assert.equal(status.header('range'), `0-${offset - 1}`, 'node b sees all that was written');

    await finishUpload(b, path, digest);
    for (const n of [a, b]) {
      const head = await http('HEAD', `${n.url}${apiPaths.blob('team/app', digest)}`);
      assert.equal(head.status, 200, `${n.name} serves the blob`);
      assert.equal(head.header('content-length'), String(offset));
    }
    assert.equal((await http('GET', `${a.url}${path}`)).status, 404, 'the session is gone for both nodes');
  });

  it('applies on every node a lock, the trust policy and the drain state set through one of them, within seconds', async () => {
    const blobs = join(tmp, 'follow');
    const [a, b] = [await start('node-a', blobs), await start('node-b', blobs)];
    await pushImage(b.url, 'team/locked', 'v1');
    /** Ask `check` of node b until it holds, for at most 5 s (b reads the shared state again every second). */
    const eventually = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      const until = Date.now() + 5000;
      while (!(await check())) {
        if (Date.now() > until) throw new Error(`node b never saw ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const json = { 'Content-Type': 'application/json' };

    const lock = await http('PATCH', `${a.url}${apiPaths.acrRepository('team/locked')}`, {
      body: JSON.stringify({ writeEnabled: false }),
      headers: json,
    });
    assert.equal(lock.status, 200, lock.body.toString());
    await eventually('the lock', async () =>
      (
        await pushImage(b.url, 'team/locked', 'v2').then(
          () => 'pushed',
          (e: Error) => e.message,
        )
      ).includes('is locked'),
    );

    const policy = { policies: [{ repositories: ['**'], mode: 'off' }] };
    const put = await http('PUT', `${a.url}${apiPaths.trustPolicy()}`, { body: JSON.stringify(policy), headers: json });
    assert.equal(put.status, 200, put.body.toString());
    const version = (JSON.parse(put.body.toString()) as { version: string }).version;
    await eventually(
      'the policy',
      async () => JSON.parse((await http('GET', `${b.url}${apiPaths.trustPolicy()}`)).body.toString()).version === version,
    );

    const drain = await http('PUT', `${a.url}${apiPaths.routing()}`, {
      body: JSON.stringify({ drained: true, reason: 'maintenance' }),
      headers: json,
    });
    assert.equal(drain.status, 200, drain.body.toString());
    await eventually(
      'the drain',
      async () => JSON.parse((await http('GET', `${b.url}${apiPaths.routing()}`)).body.toString()).drained === true,
    );
  });
});
