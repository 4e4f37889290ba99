import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { digestOf, MediaTypes, type Descriptor } from 'georeg/oci';
import { closedPort } from 'georeg/test-support';
import { CliError } from '../src/command.js';
import { pushCommand, pushLayout, splitLayoutArg } from '../src/commands/push.js';
import { openLayout, REF_NAME } from '../src/oci-layout.js';
import { createProgress, type Progress } from '../src/progress.js';
import { RegistryClient } from '../src/registry-client.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;
const run = promisify(execFile);

const { ociManifest: OCI_MANIFEST, ociIndex: OCI_INDEX } = MediaTypes;
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const FOREIGN_LAYER = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

// ---- OCI image layouts written by hand -------------------------------------------------------

async function newLayout(root: string, name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return dir;
}

async function writeBlob(dir: string, content: Buffer | string, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(content);
  const digest = digestOf(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** A config, `layers` and their manifest; returns the manifest's descriptor. */
async function writeImage(dir: string, arch: string, layers: Descriptor[] = []): Promise<Descriptor> {
  const layer = await writeBlob(dir, randomBytes(2000), GZIP_LAYER);
  const config = await writeBlob(
    dir,
    JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer, ...layers] };
  return { ...(await writeBlob(dir, JSON.stringify(manifest), OCI_MANIFEST)), platform: { architecture: arch, os: 'linux' } };
}

async function writeIndex(dir: string, children: Descriptor[]): Promise<Descriptor> {
  return writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }), OCI_INDEX);
}

/** index.json naming each descriptor by its tag. */
async function tagLayout(dir: string, tags: Record<string, Descriptor>): Promise<void> {
  const manifests = Object.entries(tags).map(([tag, d]) => ({ ...d, annotations: { [REF_NAME]: tag } }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

const blobFile = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

// ---- running the command in-process, as runCli does --------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `georeg push args...`: exit status and output, a CliError being status 2 as in runCli. */
async function push(...args: string[]): Promise<Run> {
  const out = { stdout: '', stderr: '' };
  const { write: writeOut } = process.stdout;
  const { write: writeErr } = process.stderr;
  const capture = (key: 'stdout' | 'stderr') =>
    ((s: string | Uint8Array) => ((out[key] += String(s)), true)) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    return { code: await pushCommand.run(args), ...out };
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return { code: 2, stdout: out.stdout, stderr: `${out.stderr}georeg push: ${e.message}\n` };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

function expectFailure(r: Run, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit status ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'a stack trace');
  assert.equal(r.stdout, '');
}

/** Records what pushLayout reports. */
function recorder(): Progress & { total: number; sent: number; blobs: Map<string, string> } {
  const r = {
    total: 0,
    sent: 0,
    blobs: new Map<string, string>(),
    begin: (total: number) => void (r.total = total),
    bytes: (n: number) => void (r.sent += n),
    blob: (digest: string, _size: number, result: string) => void r.blobs.set(digest, result),
    end: () => undefined,
  };
  return r;
}

describe('georeg push', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let host: string;
  let client: RegistryClient;
  let root: string;
  before(async () => {
    node = await startTestNode();
    host = node.url.replace(/^http:\/\//, '');
    client = new RegistryClient(node.url);
  });
  after(async () => {
    await node.close();
  });
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'georeg-push-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("pushes an image: the manifest under the tag is the layout's, byte for byte, and its blobs are there", async () => {
    const dir = await newLayout(root, 'app');
    const image = await writeImage(dir, 'amd64');
    await tagLayout(dir, { v1: image });

    const r = await push(`${dir}:v1`, `${host}/team/app:v1`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `pushed ${host}/team/app:v1 ${image.digest}\n`);

    const got = await client.getManifest('team/app', 'v1');
    assert.deepEqual(got, { digest: image.digest, mediaType: OCI_MANIFEST, bytes: await readFile(blobFile(dir, image.digest)) });
    const manifest = JSON.parse(got.bytes.toString()) as { config: Descriptor; layers: Descriptor[] };
    for (const b of [manifest.config, ...manifest.layers]) assert.ok(await client.blobExists('team/app', b.digest), b.digest);
  });

  it('takes the only manifest without a tag, and asks for one when there are several', async () => {
    const one = await newLayout(root, 'one');
    await tagLayout(one, { v1: await writeImage(one, 'amd64') });
    assert.equal((await push(one, `${host}/team/one:latest`)).code, 0);

    const two = await newLayout(root, 'two');
    const v2 = await writeImage(two, 'arm64');
    await tagLayout(two, { v1: await writeImage(two, 'amd64'), v2 });
    expectFailure(
      await push(two, `${host}/team/two:v1`),
      1,
      new RegExp(`^georeg push: ${two} holds 2 manifests \\(v1, v2\\): name one as ${two}:TAG$`, 'm'),
    );
    expectFailure(await push(`${two}:v3`, `${host}/team/two:v1`), 1, /no manifest tagged "v3" \(tags: v1, v2\)/);
    const r = await push(`${two}:v2`, `${host}/team/two:v1`);
    assert.equal(r.stdout, `pushed ${host}/team/two:v1 ${v2.digest}\n`);
  });

  it('pushes a multi-platform index after its child manifests and their blobs', async () => {
    const dir = await newLayout(root, 'multi');
    const amd64 = await writeImage(dir, 'amd64');
    const arm64 = await writeImage(dir, 'arm64');
    const index = await writeIndex(dir, [amd64, arm64]);
    await tagLayout(dir, { amd64, arm64, latest: index });

    const progress = recorder();
    const layout = await openLayout(dir, 'latest');
    assert.deepEqual(await pushLayout(client, layout, 'team/multi', 'v1', progress), {
      digest: index.digest,
      mediaType: OCI_INDEX,
      size: index.size,
    });

    const got = await client.getManifest('team/multi', 'v1');
    assert.equal(got.digest, index.digest);
    assert.equal(got.mediaType, OCI_INDEX);
    for (const child of [amd64, arm64]) assert.equal((await client.headManifest('team/multi', child.digest))?.digest, child.digest);
    assert.equal(progress.blobs.size, 4); // two configs, two layers
    assert.ok([...progress.blobs.values()].every((r) => r === 'pushed'));
    assert.equal(progress.sent, progress.total);
  });

  it('skips the blobs the registry already has when pushing again', async () => {
    const dir = await newLayout(root, 'again');
    await tagLayout(dir, { v1: await writeImage(dir, 'amd64') });
    const layout = await openLayout(dir);
    const first = recorder();
    await pushLayout(client, layout, 'team/again', 'v1', first);
    assert.deepEqual([...first.blobs.values()], ['pushed', 'pushed']);
    const second = recorder();
    const again = await pushLayout(client, layout, 'team/again', 'v2', second);
    assert.deepEqual([...second.blobs.values()], ['skipped', 'skipped']);
    assert.equal(second.sent, 0);
    assert.deepEqual(await client.listTags('team/again'), ['v1', 'v2']);
    assert.equal((await client.headManifest('team/again', 'v2'))?.digest, again.digest);
  });

  it('leaves out an absent non-distributable layer, but not any other absent blob', async () => {
    const dir = await newLayout(root, 'foreign');
    const foreign = { mediaType: FOREIGN_LAYER, digest: digestOf(Buffer.from('elsewhere')), size: 9, urls: ['https://example.com/layer'] };
    const image = await writeImage(dir, 'amd64', [foreign]);
    await tagLayout(dir, { v1: image });
    assert.equal((await push(dir, `${host}/team/foreign:v1`)).code, 0);
    assert.equal(await client.blobExists('team/foreign', foreign.digest), false);

    const manifest = await (await openLayout(dir)).readJson<{ layers: Descriptor[] }>(image.digest);
    const layer = manifest.layers[0] as Descriptor;
    await unlink(blobFile(dir, layer.digest));
    expectFailure(
      await push(dir, `${host}/team/foreign:v2`),
      1,
      new RegExp(`^georeg push: ${dir}: manifest ${image.digest}: blob ${layer.digest} is missing from the layout$`, 'm'),
    );
    assert.equal(await client.headManifest('team/foreign', 'v2'), undefined);
  });

  it('fails with status 1 and a clear message on a bad layout', async () => {
    const dest = `${host}/team/bad:v1`;
    expectFailure(await push(join(root, 'absent'), dest), 1, /^georeg push: .*\/absent: no such directory$/m);
    expectFailure(await push(root, dest), 1, /^georeg push: .* is not an OCI image layout: cannot read .*\/oci-layout$/m);

    const dir = await newLayout(root, 'bad');
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({ manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:../../../etc/passwd', size: 1 }] }),
    );
    expectFailure(
      await push(dir, dest),
      1,
      /index\.json: manifests\[0\]: invalid digest \{"digest":"sha256:\.\.\/\.\.\/\.\.\/etc\/passwd"\}$/m,
    );

    const image = await writeImage(dir, 'amd64');
    await tagLayout(dir, { v1: image });
    await writeFile(blobFile(dir, image.digest), '{"tampered": true}');
    expectFailure(await push(dir, dest), 1, new RegExp(`blob ${image.digest} is corrupt`));

    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }));
    expectFailure(await push(dir, dest), 1, /unsupported imageLayoutVersion "2\.0\.0"/);
  });

  it('fails with status 1 when the registry cannot be reached', async () => {
    const dir = await newLayout(root, 'app');
    await tagLayout(dir, { v1: await writeImage(dir, 'amd64') });
    const port = await closedPort();
    expectFailure(
      await push(dir, `127.0.0.1:${port}/team/app:v1`),
      1,
      new RegExp(`^georeg push: HEAD /v2/team/app/blobs/sha256:\\w+: cannot reach https://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, 'm'),
    );
  });

  it('fails with status 2 on usage errors, and prints its usage with --help', async () => {
    const dir = await newLayout(root, 'app');
    expectFailure(await push(), 2, /expected LAYOUT_DIR\[:TAG\] REGISTRY\/REPOSITORY:TAG/);
    expectFailure(await push(dir), 2, /expected LAYOUT_DIR/);
    expectFailure(await push(dir, `${host}/team/app:v1`, 'extra'), 2, /expected LAYOUT_DIR/);
    expectFailure(await push(dir, `${host}/Team/App:v1`), 2, /bad repository name "Team\/App"/);
    expectFailure(await push(dir, `${host}/team/app`), 2, /give the destination as REGISTRY\/REPOSITORY:TAG/);
    expectFailure(await push(dir, `${host}/team/app@sha256:${'a'.repeat(64)}`), 2, /give the destination as REGISTRY\/REPOSITORY:TAG/);
    expectFailure(await push(dir, 'team-app:v1'), 2, /bad image reference "team-app:v1"/);
    expectFailure(await push('--frobnicate', dir, `${host}/team/app:v1`), 2, /--frobnicate/);
    const help = await push('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: georeg push LAYOUT_DIR\[:TAG\] REGISTRY\/REPOSITORY:TAG/);
  });

  it('splits DIR:TAG at the last colon only when that makes sense', async () => {
    assert.deepEqual(await splitLayoutArg('/images/app:v1'), { dir: '/images/app', tag: 'v1' });
    assert.deepEqual(await splitLayoutArg('/images/app'), { dir: '/images/app' });
    assert.deepEqual(await splitLayoutArg('/images:x/app'), { dir: '/images:x/app' });
    assert.deepEqual(await splitLayoutArg('/images/app:'), { dir: '/images/app:' });
    const colonDir = join(root, 'app:v1');
    await mkdir(colonDir);
    assert.deepEqual(await splitLayoutArg(colonDir), { dir: colonDir });
    assert.deepEqual(await splitLayoutArg(`${colonDir}:v2`), { dir: colonDir, tag: 'v2' });
  });

  it('pushes an image built by umoci that skopeo can then inspect', async () => {
    const dir = join(root, 'umoci');
    const content = join(root, 'content');
    await mkdir(content);
    await writeFile(join(content, 'hello.txt'), 'hello from georeg push\n');
    await run('umoci', ['init', '--layout', dir]);
    await run('umoci', ['new', '--image', `${dir}:v1`]);
    await run('umoci', ['insert', '--image', `${dir}:v1`, content, '/data']);
    await run('umoci', ['config', '--image', `${dir}:v1`, '--config.cmd', '/bin/true', '--os', 'linux', '--architecture', 'amd64']);

    const r = await push(`${dir}:v1`, `${host}/team/umoci:v1`);
    assert.equal(r.code, 0, r.stderr);
    const digest = /^pushed \S+ (sha256:[a-f0-9]{64})$/m.exec(r.stdout)?.[1];
    // skopeo runs as a child process: execFile is asynchronous, so this process's node keeps answering.
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/team/umoci:v1`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Architecture: string; Layers: string[] };
    assert.equal(inspected.Digest, digest);
    assert.equal(inspected.Architecture, 'amd64');
    assert.equal(inspected.Layers.length, 1);
  });

  it('pushes the multi-platform layout of make-images.sh, which skopeo copies back whole', async () => {
    const lab = '/tmp/lab-images/multi'; // built by `npm test`'s pretest (scripts/ensure-tools.mjs)
    assert.ok(existsSync(join(lab, 'index.json')), `${lab} is missing: run npm test (its pretest builds it)`);
    const index = JSON.parse(await readFile(join(lab, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const latest = index.manifests.find((m) => m.annotations?.[REF_NAME] === 'latest');
    const r = await push(`${lab}:latest`, `${host}/lab/multi:v1`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `pushed ${host}/lab/multi:v1 ${latest?.digest}\n`);
    const copy = join(root, 'copy');
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${host}/lab/multi:v1`, `oci:${copy}:v1`]);
    const copied = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.equal(copied.manifests[0]?.digest, latest?.digest);
  });
});

describe('push progress', () => {
  function output(isTTY: boolean): { text: string; isTTY: boolean; columns: number; write(s: string): boolean } {
    return {
      text: '',
      isTTY,
      columns: 80,
      write(s: string) {
        this.text += s;
        return true;
      },
    };
  }

  it('redraws one bar on a terminal: bytes done of the total, percent, rate, blobs', () => {
    const out = output(true);
    const p = createProgress(out);
    p.begin(3 * 1024 * 1024, 2);
    p.bytes(1024 * 1024);
    p.blob('sha256:aa', 1024 * 1024, 'pushed');
    p.blob('sha256:bb', 2 * 1024 * 1024, 'skipped');
    p.end();
    p.end();
    const frames = out.text.split('\r').filter((f) => f !== '');
    // eslint-disable-next-line no-control-regex -- the line ends with the terminal's erase-line escape
    assert.match(frames[0] ?? '', /^\[-+\] 0\.0\/3\.0 MiB {2}0% {2}[\d.]+ MiB\/s {2}0\/2 blobs\x1b\[K$/);
    assert.match(frames[1] ?? '', /^\[#+-+\] 1\.0\/3\.0 MiB {2}33% /);
    // eslint-disable-next-line no-control-regex -- the line ends with the terminal's erase-line escape
    assert.match(frames.at(-1) ?? '', /^\[#+\] 3\.0\/3\.0 MiB {2}100% {2}[\d.]+ MiB\/s {2}2\/2 blobs\x1b\[K\n$/);
    assert.ok(
      frames.every((f) => f.length <= 80 + 4),
      'wider than the terminal',
    );
  });

  it('writes one line per blob when not on a terminal', () => {
    const out = output(false);
    const p = createProgress(out);
    p.begin(3000, 2);
    p.bytes(1000);
    p.blob('sha256:aa', 1000, 'pushed');
    p.blob('sha256:bb', 2 * 1024 * 1024, 'skipped');
    p.end();
    assert.equal(out.text, 'sha256:aa 1000 B pushed\nsha256:bb 2.0 MiB already there\n');
  });
});

describe('georeg push against a registry whose upload stalls', () => {
  it('gives the blob up after --timeout without progress, saying so', async () => {
    // Answers every request but the blob's PUT, whose body it never reads.
    const server = createServer((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { Location: '/v2/team/app/blobs/uploads/1' }).end();
      // PUT: hold it, reading nothing.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new RegistryClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { timeoutMs: 500 });
    const big = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(1024 * 1024);
      })(),
    );
    try {
      await assert.rejects(
        client.pushBlob('team/app', `sha256:${'0'.repeat(64)}`, 64 * 1024 * 1024, () => big),
        /nothing went through for 0\.5 s \(--timeout SECONDS waits longer\)/,
      );
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
