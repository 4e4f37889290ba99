import assert from 'node:assert/strict';
import { verify as cryptoVerify, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { expectCleanFailure, georeg } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest
const MULTI = '/tmp/lab-images/multi:latest';

describe('georeg key, sign, push --sign, verify, policy (against a node enforcing a trust policy)', function () {
  this.timeout(60_000);
  let dir: string;
  let node: HarnessModule.TestNode;
  let host: string;

  async function policy(extra: { threshold?: number } = {}): Promise<string> {
    const doc = {
      identity: 'georeg.test',
      keys: [
        { name: 'ci', publicKey: await readFile(join(dir, 'ci.pub'), 'utf8') },
        // A key file beside the policy file, as `georeg key generate` prints the entry: no JSON-escaped PEM.
        { name: 'release', publicKeyFile: 'release.pub' },
      ],
      policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci', 'release'], threshold: extra.threshold ?? 1 }],
    };
    const file = join(dir, 'policy.json');
    await writeFile(file, JSON.stringify(doc));
    return file;
  }

  async function status(ref: string): Promise<number> {
    return (await fetch(`http://${host}/v2/${ref.replace(':', '/manifests/')}`)).status;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-trust-cli-'));
    node = await startTestNode();
    host = node.url.replace('http://', '');
    for (const name of ['ci', 'release']) assert.equal((await georeg(['key', 'generate', '--out', join(dir, name)])).code, 0);
    const rsa = await georeg(['key', 'generate', '--out', join(dir, 'stranger'), '--algorithm', 'rsa-2048']);
    assert.equal(rsa.code, 0, rsa.stderr);
    const applied = await georeg(['policy', 'apply', await policy(), '--url', node.url]);
    assert.match(applied.stdout, /^applied version /, applied.stderr);
  });

  after(async () => {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('key generate: a 0600 private key, a public key and the key id; no silent overwrite', async () => {
    assert.equal((await stat(join(dir, 'ci.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(dir, 'ci.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    expectCleanFailure(await georeg(['key', 'generate', '--out', join(dir, 'ci')]), 2, /exists \(use --force/);
    expectCleanFailure(await georeg(['key', 'generate', '--out', join(dir, 'x'), '--algorithm', 'dsa']), 2, /--algorithm must be one of/);
  });

  it('key generate prints the policy entry; policy apply reads publicKeyFile relative to the policy file', async () => {
    const made = await georeg(['key', 'generate', '--out', join(dir, 'ops')]);
    assert.match(made.stdout, /^policy key: +{"name":"ops","publicKeyFile":"ops.pub"}$/m);
    // The stored document carries the PEM itself, so other regions need no file.
    const shown = await georeg(['policy', 'show', '--url', node.url]);
    assert.ok(shown.stdout.includes(JSON.stringify(await readFile(join(dir, 'release.pub'), 'utf8'))), shown.stdout);
    assert.doesNotMatch(shown.stdout, /publicKeyFile/);
    const bad = join(dir, 'bad-policy.json');
    await writeFile(bad, JSON.stringify({ keys: [{ name: 'x', publicKeyFile: 'nowhere.pub' }], policies: [] }));
    expectCleanFailure(
      await georeg(['policy', 'apply', bad, '--url', node.url]),
      2,
      /cannot read keys\[0\]\.publicKeyFile .*nowhere\.pub: ENOENT/,
    );
    await writeFile(bad, JSON.stringify({ keys: [{ name: 'x', publicKeyFile: 'ops.pub', publicKey: 'pem' }], policies: [] }));
    expectCleanFailure(
      await georeg(['policy', 'apply', bad, '--url', node.url]),
      2,
      /keys\[0\]: give publicKey or publicKeyFile, not both/,
    );
    // A document the registry refuses: its OCI error, exit 1.
    await writeFile(bad, JSON.stringify({ keys: [], policies: [{ repositories: ['x/**'], mode: 'enforce', keys: ['nobody'] }] }));
    expectCleanFailure(
      await georeg(['policy', 'apply', bad, '--url', node.url]),
      1,
      /^georeg policy: PUT \/georeg\/v1\/trust\/policy: 400 POLICY_INVALID .*nobody/m,
    );
  });

  it('push --sign: the tag is served and verifies with the registry keys and with --key; a wrong key fails', async () => {
    const pushed = await georeg(['push', SMALL, `${host}/prod/app:v1`, '--sign', '--key', join(dir, 'ci.key')]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /signed with key .*sequence \d+/);
    assert.equal(await status('prod/app:v1'), 200);
    const byRegistry = await georeg(['verify', `${host}/prod/app:v1`]);
    assert.equal(byRegistry.code, 0, byRegistry.stdout + byRegistry.stderr);
    assert.match(byRegistry.stdout, /binding\s+ci\s+prod\/app:v1/);
    assert.match(byRegistry.stdout, /verified: signed by ci/);
    assert.match(byRegistry.stdout, /registry: serves it/);
    const json = await georeg(['verify', `${host}/prod/app:v1`, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const verdict = JSON.parse(json.stdout) as {
      verified: boolean;
      registry: string;
      signatures: { type: string; signer: string; tag: string }[];
    };
    assert.equal(verdict.verified, true);
    assert.equal(verdict.registry, 'serves it');
    assert.ok(
      verdict.signatures.some((s) => s.type === 'binding' && s.signer === 'ci' && s.tag === 'prod/app:v1'),
      json.stdout,
    );
    const byKey = await georeg(['verify', `${host}/prod/app:v1`, '--key', join(dir, 'ci.pub')]);
    assert.equal(byKey.code, 0, byKey.stdout + byKey.stderr);
    assert.match(byKey.stdout, /verified: signed by ci\b/, 'the key is named for its file, not numbered');
    const wrong = await georeg(['verify', `${host}/prod/app:v1`, '--key', join(dir, 'stranger.pub')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /NOT VERIFIED \(untrusted-key\)/);
  });

  it('a tag with no binding of its own is refused at pull and by verify (the v1 binding names v1); sign makes it servable', async () => {
    assert.equal((await georeg(['push', SMALL, `${host}/prod/app:v2`])).code, 0);
    assert.equal(await status('prod/app:v2'), 403);
    const before = await georeg(['verify', `${host}/prod/app:v2`]);
    assert.equal(before.code, 1);
    assert.match(before.stdout, /NOT VERIFIED \(other-tag\): binding by ci is for tag v1, not v2[\s\S]*registry: refuses it: .*403 DENIED/);
    const signed = await georeg(['sign', `${host}/prod/app:v2`, '--key', join(dir, 'release.key'), '--legacy-tag']);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(await status('prod/app:v2'), 200);
    // The legacy cosign tag is readable in enforce mode and its simple-signing signature checks out.
    const tag = /legacy tag\s+(\S+)/.exec(signed.stdout)?.[1];
    assert.ok(tag);
    const legacy = await fetch(`http://${host}/v2/prod/app/manifests/${tag}`);
    assert.equal(legacy.status, 200, `${tag}: ${legacy.status}`);
    const m = (await legacy.json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
    const layer = m.layers[0];
    assert.ok(layer);
    const payload = Buffer.from(await (await fetch(`http://${host}/v2/prod/app/blobs/${layer.digest}`)).arrayBuffer());
    const pub = createPublicKey(await readFile(join(dir, 'release.pub'), 'utf8'));
    assert.ok(cryptoVerify('sha256', payload, pub, Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'] ?? '', 'base64')));
    assert.match(payload.toString(), /"docker-manifest-digest":"sha256:/);
  });

  it('a multi-platform index pushed with --sign: the index and its children are served', async () => {
    const pushed = await georeg(['push', MULTI, `${host}/prod/multi:v1`, '--sign', '--key', join(dir, 'ci.key')]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const index = (await (await fetch(`http://${host}/v2/prod/multi/manifests/v1`)).json()) as { manifests: { digest: string }[] };
    for (const child of index.manifests) assert.equal(await status(`prod/multi:${child.digest}`), 200);
  });

  it('a threshold of two: the second signer co-signs at the same sequence', async () => {
    assert.equal((await georeg(['policy', 'apply', await policy({ threshold: 2 }), '--url', node.url])).code, 0);
    assert.equal((await georeg(['push', SMALL, `${host}/prod/two:v1`, '--sign', '--key', join(dir, 'ci.key')])).code, 0);
    assert.equal(await status('prod/two:v1'), 403);
    const second = await georeg(['sign', `${host}/prod/two:v1`, '--key', join(dir, 'release.key')]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await status('prod/two:v1'), 200);
    const shown = await georeg(['policy', 'show', '--url', node.url]);
    assert.match(shown.stdout, /"threshold": 2/);
  });

  it('numbers a binding from what the registry verified, not from a binding anyone could push', async () => {
    assert.equal((await georeg(['policy', 'apply', await policy(), '--url', node.url])).code, 0);
    assert.equal((await georeg(['push', SMALL, `${host}/prod/seq:v1`])).code, 0);
    const junk = await georeg([
      'sign',
      `${host}/prod/seq:v1`,
      '--key',
      join(dir, 'stranger.key'),
      '--sequence',
      String(Date.now() + 300 * 24 * 3600 * 1000),
    ]);
    assert.equal(junk.code, 0, junk.stderr);
    const before = Date.now();
    const real = await georeg(['sign', `${host}/prod/seq:v1`, '--key', join(dir, 'ci.key')]);
    const sequence = Number(/sequence (\d+)/.exec(real.stdout)?.[1]);
    assert.ok(sequence >= before && sequence < before + 60_000, `sequence ${sequence} follows the clock, not the stranger's binding`);
    assert.equal(await status('prod/seq:v1'), 200);
  });

  it('verify fails for a digest the registry does not have; key generate --force rewrites the key with mode 0600', async () => {
    const missing = await georeg(['verify', `${host}/prod/app@sha256:${'0'.repeat(64)}`, '--key', join(dir, 'ci.pub')]);
    assert.equal(missing.code, 1);
    await writeFile(join(dir, 'loose.key'), 'old', { mode: 0o644 });
    await writeFile(join(dir, 'loose.pub'), 'old');
    assert.equal((await georeg(['key', 'generate', '--out', join(dir, 'loose'), '--force'])).code, 0);
    assert.equal((await stat(join(dir, 'loose.key'))).mode & 0o777, 0o600);
  });

  it('usage errors exit 2 without a stack trace', async () => {
    expectCleanFailure(await georeg(['sign', `${host}/prod/app:v1`]), 2, /--key FILE is required/);
    expectCleanFailure(
      await georeg(['sign', `${host}/prod/app@sha256:${'a'.repeat(64)}`, '--key', join(dir, 'ci.key')]),
      2,
      /sign needs a tag/,
    );
    expectCleanFailure(await georeg(['sign', `${host}/prod/app:v1`, '--key', join(dir, 'ci.pub')]), 2, /not a PEM private key/);
    expectCleanFailure(await georeg(['push', SMALL, `${host}/prod/app:v1`, '--sign']), 2, /--sign and --key FILE go together/);
    expectCleanFailure(await georeg(['verify', `${host}/open/app:v1`]), 2, /does not cover open\/app/);
  });
});
