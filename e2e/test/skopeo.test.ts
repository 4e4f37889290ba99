/**
 * Black-box interop with the real skopeo client: two built georeg nodes (`georeg serve`), the
 * offline test images from ../shared/tools/make-images.sh (/tmp/lab-images), plain HTTP.
 *
 * Every step gets what it needs through memoized setup (`pushedSmall()` etc.), so any single
 * test can run on its own (mocha --grep) and a failed push shows up in every test needing it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from 'georeg/test-support';
import { GeoregNode } from './support/process.js';
import { layoutBlob, layoutRef, Skopeo, SkopeoError, type OciIndex, type OciManifest, skopeoFails } from './support/skopeo.js';
import { apiPaths } from 'georeg/oci';

const IMAGES = process.env['IMAGES'] ?? '/tmp/lab-images';
const SMALL = join(IMAGES, 'small');
const MULTI = join(IMAGES, 'multi');

const INSECURE = '--tls-verify=false';
const SRC_INSECURE = '--src-tls-verify=false';
const DEST_INSECURE = '--dest-tls-verify=false';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface InspectOutput {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
}

interface ListTagsOutput {
  Repository: string;
  Tags: string[] | null;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

describe('skopeo against georeg (e2e, black box)', function () {
  let a: GeoregNode;
  let b: GeoregNode;
  let skopeo: Skopeo;
  let tmp: string;
  // A fresh namespace per run: the nodes are new anyway, but skopeo must never confuse
  // repositories of an earlier run with these.
  const ns = `e2e-${Date.now().toString(36)}-${process.pid}`;
  const A = (repo: string): string => `docker://${a.hostPort}/${ns}/${repo}`;
  const B = (repo: string): string => `docker://${b.hostPort}/${ns}-mirror/${repo}`;
  let marks: { a: number; b: number } = { a: 0, b: 0 };

  before(async function () {
    this.timeout(60_000);
    for (const img of ['small', 'multi']) {
      if (!existsSync(join(IMAGES, img, 'index.json'))) {
        throw new Error(`test image ${IMAGES}/${img} missing: run \`node scripts/ensure-tools.mjs\` (npm pretest)`);
      }
    }
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-skopeo-'));
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
    [a, b] = await Promise.all([GeoregNode.start({ name: 'node-a' }), GeoregNode.start({ name: 'node-b' })]);
  });

  beforeEach(function () {
    marks = { a: a.mark(), b: b.mark() };
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    // Diagnostics: what the nodes saw during the failed test.
    for (const [node, mark] of [
      [a, marks.a],
      [b, marks.b],
    ] as const) {
      await node.syncLog().catch(() => undefined);
      const other = node
        .records(mark)
        .filter((r) => r.msg !== 'request')
        .map((r) => JSON.stringify(r));
      process.stderr.write(
        `\n--- ${node.name} (${node.url}) requests during "${this.currentTest.title}" ---\n${node.requestSummary(mark)}\n` +
          (other.length > 0 ? `--- ${node.name} other log lines ---\n${other.join('\n')}\n` : ''),
      );
    }
  });

  after(async function () {
    this.timeout(30_000);
    const exits = await Promise.all([a?.stop(), b?.stop()]);
    if (tmp) await rm(tmp, { recursive: true, force: true });
    for (const [i, e] of exits.entries()) {
      if (e) assert.deepEqual(e, { code: 0, signal: null }, `node ${i === 0 ? 'a' : 'b'} did not exit cleanly on SIGTERM`);
    }
  });

  async function httpManifest(
    node: GeoregNode,
    repo: string,
    ref: string,
  ): Promise<{ status: number; digest: string | null; body: Buffer }> {
    const res = await fetch(`${node.url}${apiPaths.manifest(repo, ref)}`, { headers: { Accept: ACCEPT } });
    return { status: res.status, digest: res.headers.get('docker-content-digest'), body: Buffer.from(await res.arrayBuffer()) };
  }

  async function rawManifest(ref: string): Promise<string> {
    return (await skopeo.run(['inspect', INSECURE, '--raw', ref])).stdout;
  }

  async function listTags(ref: string): Promise<string[]> {
    const out = await skopeo.json<ListTagsOutput>(['list-tags', INSECURE, ref]);
    return [...(out.Tags ?? [])].sort();
  }

  async function copyDigest(args: string[]): Promise<string> {
    const file = join(tmp, `digest-${Math.random().toString(36).slice(2)}`);
    await skopeo.run(['copy', '--digestfile', file, ...args]);
    return (await readFile(file, 'utf8')).trim();
  }

  // ---- memoized setup steps ----
  const smallSource = once(async () => {
    const desc = await layoutRef(SMALL, 'latest');
    const manifest = JSON.parse((await layoutBlob(SMALL, desc.digest)).toString('utf8')) as OciManifest;
    return { digest: desc.digest, manifest };
  });
  const multiSource = once(async () => {
    const desc = await layoutRef(MULTI, 'latest');
    const index = JSON.parse((await layoutBlob(MULTI, desc.digest)).toString('utf8')) as OciIndex;
    return { digest: desc.digest, index };
  });
  const pushedSmall = once(async () => {
    const digest = await copyDigest([DEST_INSECURE, `oci:${SMALL}:latest`, A('small') + ':v1']);
    return { digest };
  });
  const pushedMulti = once(async () => {
    const digest = await copyDigest(['--all', DEST_INSECURE, `oci:${MULTI}:latest`, A('multi') + ':v1']);
    return { digest };
  });

  it('copies a multi-layer OCI layout in, keeping the manifest digest', async function () {
    const src = await smallSource();
    assert.equal(src.manifest.layers.length, 3, 'test image small should have 3 layers');
    const { digest } = await pushedSmall();
    assert.equal(digest, src.digest, 'skopeo --digestfile');
    // The registry agrees, by tag and by digest, and has every blob with its size.
    const byTag = await httpManifest(a, `${ns}/small`, 'v1');
    assert.equal(byTag.status, 200);
    assert.equal(byTag.digest, src.digest, 'Docker-Content-Digest by tag');
    assert.equal(sha256(byTag.body), src.digest, 'manifest bytes by tag');
    for (const blob of [src.manifest.config, ...src.manifest.layers]) {
      const res = await fetch(`${a.url}${apiPaths.blob(`${ns}/small`, blob.digest)}`, { method: 'HEAD' });
      assert.equal(res.status, 200, `HEAD blob ${blob.digest}`);
      assert.equal(res.headers.get('content-length'), String(blob.size), `size of ${blob.digest}`);
    }
  });

  it('copies a multi-arch OCI index in with --all, keeping the index digest', async function () {
    const src = await multiSource();
    assert.equal(src.index.manifests.length, 2, 'test image multi should have 2 platforms');
    const { digest } = await pushedMulti();
    assert.equal(digest, src.digest, 'skopeo --digestfile');
    const byTag = await httpManifest(a, `${ns}/multi`, 'v1');
    assert.equal(byTag.status, 200);
    assert.equal(byTag.digest, src.digest);
    for (const child of src.index.manifests) {
      const m = await httpManifest(a, `${ns}/multi`, child.digest);
      assert.equal(m.status, 200, `child manifest ${child.platform?.architecture} ${child.digest}`);
      assert.equal(sha256(m.body), child.digest);
    }
  });

  it('inspect, inspect --raw and --config show the pushed image exactly', async function () {
    const src = await smallSource();
    await pushedSmall();
    const info = await skopeo.json<InspectOutput>(['inspect', INSECURE, A('small') + ':v1']);
    assert.equal(info.Digest, src.digest);
    assert.deepEqual(
      info.Layers,
      src.manifest.layers.map((l) => l.digest),
    );
    assert.ok(info.RepoTags.includes('v1'), `RepoTags ${JSON.stringify(info.RepoTags)}`);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');

    const raw = await rawManifest(A('small') + ':v1');
    assert.equal(sha256(raw), src.digest, '--raw must return the manifest byte for byte');

    const configRaw = (await skopeo.run(['inspect', INSECURE, '--config', '--raw', A('small') + ':v1'])).stdout;
    assert.equal(sha256(configRaw), src.manifest.config.digest, '--config --raw must return the config blob byte for byte');
    const config = await skopeo.json<{ architecture: string; os: string; config?: { Cmd?: string[] } }>([
      'inspect',
      INSECURE,
      '--config',
      A('small') + ':v1',
    ]);
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.config?.Cmd, ['/bin/true']);
  });

  it('inspects the multi-arch index raw and per platform (--override-arch)', async function () {
    const src = await multiSource();
    await pushedMulti();
    const raw = await rawManifest(A('multi') + ':v1');
    assert.equal(sha256(raw), src.digest);
    const index = JSON.parse(raw) as OciIndex;
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests.length, 2);
    for (const arch of ['amd64', 'arm64']) {
      const child = src.index.manifests.find((m) => m.platform?.architecture === arch);
      assert.ok(child, `source index has ${arch}`);
      const info = await skopeo.json<InspectOutput>(['inspect', INSECURE, '--override-arch', arch, A('multi') + ':v1']);
      assert.equal(info.Architecture, arch);
      assert.equal(info.Digest, src.digest, 'skopeo inspect reports the top-level (index) digest');
      const childManifest = JSON.parse((await layoutBlob(MULTI, child.digest)).toString('utf8')) as OciManifest;
      assert.deepEqual(
        info.Layers,
        childManifest.layers.map((l) => l.digest),
        `${arch} layers`,
      );
    }
  });

  it('list-tags shows every tag after a registry-to-registry retag', async function () {
    const { digest } = await pushedSmall();
    const copied = await copyDigest([SRC_INSECURE, DEST_INSECURE, A('small') + ':v1', A('small') + ':v2']);
    assert.equal(copied, digest, 'retag keeps the digest');
    assert.deepEqual(await listTags(A('small')), ['v1', 'v2']);
    const missing = await skopeoFails(() => skopeo.run(['list-tags', INSECURE, A('no-such-repo')]), 'list-tags of a missing repo');
    assert.match(missing.stderr, /name unknown|NAME_UNKNOWN|not found|404/i);
  });

  it('copies out to oci: and dir: with the source digests and intact blobs', async function () {
    const src = await smallSource();
    await pushedSmall();
    // oci: layout
    const ociOut = join(tmp, 'small-oci');
    await skopeo.run(['copy', SRC_INSECURE, A('small') + ':v1', `oci:${ociOut}:out`]);
    const outRef = await layoutRef(ociOut, 'out');
    assert.equal(outRef.digest, src.digest, 'oci: layout ref digest');
    for (const blob of [src.manifest.config, ...src.manifest.layers]) {
      assert.equal(sha256(await layoutBlob(ociOut, blob.digest)), blob.digest, `oci: blob ${blob.digest}`);
    }
    // dir:
    const dirOut = join(tmp, 'small-dir');
    await skopeo.run(['copy', SRC_INSECURE, A('small') + ':v1', `dir:${dirOut}`]);
    assert.equal(sha256(await readFile(join(dirOut, 'manifest.json'))), src.digest, 'dir: manifest.json');
    const blobs = (await readdir(dirOut)).filter((f) => f !== 'manifest.json' && f !== 'version');
    assert.deepEqual(
      blobs.sort(),
      [src.manifest.config, ...src.manifest.layers].map((d) => d.digest.slice('sha256:'.length)).sort(),
      'dir: holds the config and the 3 layers',
    );
    for (const f of blobs) assert.equal(sha256(await readFile(join(dirOut, f))), `sha256:${f}`, `dir: blob ${f}`);
  });

  it('copies the multi-arch index out with --all to an oci: layout', async function () {
    const src = await multiSource();
    await pushedMulti();
    const out = join(tmp, 'multi-oci');
    await skopeo.run(['copy', '--all', SRC_INSECURE, A('multi') + ':v1', `oci:${out}:out`]);
    const ref = await layoutRef(out, 'out');
    assert.equal(ref.digest, src.digest, 'index digest');
    for (const child of src.index.manifests) {
      const m = JSON.parse((await layoutBlob(out, child.digest)).toString('utf8')) as OciManifest;
      for (const blob of [m.config, ...m.layers]) {
        assert.equal(sha256(await layoutBlob(out, blob.digest)), blob.digest, `${child.platform?.architecture} blob`);
      }
    }
  });

  it('pulls by digest', async function () {
    const { digest } = await pushedSmall();
    const out = join(tmp, 'by-digest');
    await skopeo.run(['copy', SRC_INSECURE, `${A('small')}@${digest}`, `oci:${out}:pulled`]);
    assert.equal((await layoutRef(out, 'pulled')).digest, digest);
    assert.equal(sha256(await rawManifest(`oci:${out}:pulled`)), digest);
    // and inspect by digest straight from the registry
    assert.equal(sha256(await rawManifest(`${A('small')}@${digest}`)), digest);
  });

  it('copies across repositories within georeg by mounting blobs, not re-uploading', async function () {
    const src = await smallSource();
    await pushedSmall();
    const mark = a.mark();
    const digest = await copyDigest([SRC_INSECURE, DEST_INSECURE, A('small') + ':v1', A('small-copy') + ':v1']);
    assert.equal(digest, src.digest);
    const info = await skopeo.json<InspectOutput>(['inspect', INSECURE, A('small-copy') + ':v1']);
    assert.deepEqual(
      info.Layers,
      src.manifest.layers.map((l) => l.digest),
    );
    // What skopeo asked for: with the blob-info cache knowing <ns>/small holds the blobs, it
    // tries POST ...uploads/?mount=<digest>&from=<ns>/small, which must answer 201.
    await a.syncLog();
    const posts = a.requests(mark).filter((r) => r['method'] === 'POST' && r['path'] === apiPaths.uploads(`${ns}/small-copy`));
    const summary = a.requestSummary(mark);
    // skopeo 1.9 mounts layers only; the config it HEADs in the target repo and then uploads.
    assert.equal(
      posts.filter((r) => r['status'] === 201).length,
      src.manifest.layers.length,
      `each layer mounted (POST -> 201):\n${summary}`,
    );
    assert.ok(posts.filter((r) => r['status'] === 202).length <= 1, `at most the config uploaded:\n${summary}`);
    // The mounted blobs are readable in the new repository.
    for (const blob of [src.manifest.config, ...src.manifest.layers]) {
      const res = await fetch(`${a.url}${apiPaths.blob(`${ns}/small-copy`, blob.digest)}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), blob.digest);
    }
  });

  it('deletes by tag: the manifest goes from that repository only; tags stay consistent', async function () {
    const { digest } = await pushedSmall();
    const repo = A('del-tag');
    await skopeo.run(['copy', SRC_INSECURE, DEST_INSECURE, A('small') + ':v1', repo + ':v1']);
    await skopeo.run(['copy', SRC_INSECURE, DEST_INSECURE, A('small') + ':v1', repo + ':v2']);
    assert.deepEqual(await listTags(repo), ['v1', 'v2']);

    // skopeo resolves the tag and DELETEs /v2/<repo>/manifests/<digest>
    await skopeo.run(['delete', INSECURE, repo + ':v1']);
    const gone = await skopeoFails(() => rawManifest(repo + ':v1'), 'inspect of the deleted tag');
    assert.match(gone.stderr, /manifest unknown|MANIFEST_UNKNOWN|not found/i);
    assert.equal((await httpManifest(a, `${ns}/del-tag`, digest)).status, 404, 'manifest by digest after delete');
    const tags = await listTags(repo).catch((err: unknown) => {
      // an emptied repository may be reported as unknown
      if (err instanceof SkopeoError && /name unknown|NAME_UNKNOWN/i.test(err.stderr)) return [] as string[];
      throw err;
    });
    assert.ok(!tags.includes('v1'), `v1 still listed: ${JSON.stringify(tags)}`);
    // v2 pointed at the same (now deleted) manifest: whether the registry drops it (as
    // Distribution does) or not, a listed tag must resolve.
    for (const t of tags) {
      const m = await httpManifest(a, `${ns}/del-tag`, t);
      assert.equal(m.status, 200, `tag ${t} is listed but GET manifests/${t} -> ${m.status}`);
    }
    const v2 = (await httpManifest(a, `${ns}/del-tag`, 'v2')).status;
    assert.equal(tags.includes('v2'), v2 === 200, `v2 listed=${tags.includes('v2')} but GET -> ${v2}`);
    this.test!.title += ` [sibling tag v2 ${v2 === 200 ? 'survived' : 'removed'}]`;
    // The same manifest in another repository is untouched.
    assert.equal(sha256(await rawManifest(A('small') + ':v1')), digest, 'source repository still has v1');
  });

  it('deletes by digest: the index goes; its platform manifests and other repositories stay', async function () {
    const src = await multiSource();
    await pushedMulti();
    const repo = A('del-digest');
    const copied = await copyDigest(['--all', SRC_INSECURE, DEST_INSECURE, A('multi') + ':v1', repo + ':v1']);
    assert.equal(copied, src.digest);

    await skopeo.run(['delete', INSECURE, `${repo}@${src.digest}`]);
    const gone = await skopeoFails(() => rawManifest(`${repo}@${src.digest}`), 'inspect of the deleted index');
    assert.match(gone.stderr, /manifest unknown|MANIFEST_UNKNOWN|not found/i);
    const byTag = await httpManifest(a, `${ns}/del-digest`, 'v1');
    assert.equal(byTag.status, 404, 'tag v1 pointed at the deleted index: it must not resolve');
    const tags = await listTags(repo).catch((err: unknown) => {
      if (err instanceof SkopeoError && /name unknown|NAME_UNKNOWN/i.test(err.stderr)) return [] as string[];
      throw err;
    });
    assert.deepEqual(tags, [], 'no tag left');
    // Deleting an index does not cascade to the manifests it lists (as in Distribution).
    for (const child of src.index.manifests) {
      const m = await httpManifest(a, `${ns}/del-digest`, child.digest);
      assert.equal(m.status, 200, `platform manifest ${child.platform?.architecture} after deleting the index`);
      assert.equal(sha256(m.body), child.digest);
    }
    // The source repository is untouched.
    assert.equal(sha256(await rawManifest(A('multi') + ':v1')), src.digest);
  });

  it('sync --all copies whole repositories to a second node with identical digests', async function () {
    this.timeout(180_000);
    const small = await smallSource();
    const multi = await multiSource();
    await Promise.all([pushedSmall(), pushedMulti()]);
    for (const repo of ['small', 'multi']) {
      await skopeo.run([
        'sync',
        '--all',
        '--src',
        'docker',
        '--dest',
        'docker',
        SRC_INSECURE,
        DEST_INSECURE,
        `${a.hostPort}/${ns}/${repo}`,
        `${b.hostPort}/${ns}-mirror`,
      ]);
      const srcTags = await listTags(A(repo));
      assert.deepEqual(await listTags(B(repo)), srcTags, `${repo}: tags on node b`);
      for (const t of srcTags) {
        const [ra, rb] = await Promise.all([rawManifest(`${A(repo)}:${t}`), rawManifest(`${B(repo)}:${t}`)]);
        assert.equal(sha256(rb), sha256(ra), `${repo}:${t} digest on node b`);
      }
    }
    assert.equal(sha256(await rawManifest(B('small') + ':v1')), small.digest);
    assert.equal(sha256(await rawManifest(B('multi') + ':v1')), multi.digest);
    for (const child of multi.index.manifests) {
      const m = await httpManifest(b, `${ns}-mirror/multi`, child.digest);
      assert.equal(m.status, 200, `node b: platform manifest ${child.platform?.architecture}`);
      assert.equal(sha256(m.body), child.digest);
    }
    // Node b serves the content: pull it back out and let skopeo verify every blob.
    const out = join(tmp, 'from-b');
    await skopeo.run(['copy', '--all', SRC_INSECURE, B('multi') + ':v1', `oci:${out}:b`]);
    assert.equal((await layoutRef(out, 'b')).digest, multi.digest);
  });
});
