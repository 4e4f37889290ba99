import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateKey, bindingStatement, signStatement, parsePrivateKey } from 'georeg/trust';
import { MediaTypes } from 'georeg/oci';
import { startTestNode, type TestNode } from '../support/harness.js';
import { readPolicyFile } from '../../src/trust/policy-file.js';
import { expectError, http, pushImage, sha256 } from '../support/client.js';
import { pushBinding, pushBundle, pushImageSignature, setPolicy, subjectOf } from '../support/signing.js';

const ci = generateKey();
const release = generateKey();
const stranger = generateKey();

function policy(over: { ci?: object; mode?: string; threshold?: number } = {}) {
  return {
    identity: 'reg.test',
    keys: [
      { name: 'ci', publicKey: ci.publicPem, ...over.ci },
      { name: 'release', publicKey: release.publicPem },
    ],
    policies: [
      { repositories: ['prod/**'], mode: over.mode ?? 'enforce', keys: ['ci', 'release'], threshold: over.threshold ?? 1 },
      { repositories: ['**'], mode: 'off' },
    ],
  };
}

describe('content trust at the node', function () {
  this.timeout(20_000);
  let node: TestNode;
  let base: string;

  beforeEach(async () => {
    node = await startTestNode();
    base = node.url;
    await setPolicy(base, policy());
  });
  afterEach(() => node.close());

  async function image(repo: string, tag: string, layers?: string[]) {
    const img = await pushImage(base, repo, tag, layers);
    return { ...img, subject: subjectOf(img.manifest) };
  }

  /** Stop the node (its data stays) and start a new one on the same data. */
  async function restart(): Promise<void> {
    const dir = node.dir;
    await node.server.close();
    await node.registry.close();
    node = await startTestNode({}, dir);
    base = node.url;
  }

  async function denied(path: string, reason: string): Promise<string> {
    const res = await http('GET', `${base}${path}`);
    const err = expectError(res, 403, 'DENIED');
    assert.equal((err?.detail as { reason?: string }).reason, reason, err?.message);
    expectError(await http('HEAD', `${base}${path}`), 403, 'DENIED');
    return err?.message ?? '';
  }

  async function served(path: string): Promise<void> {
    const res = await http('GET', `${base}${path}`);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal((await http('HEAD', `${base}${path}`)).status, 200);
  }

  it('serves a tag with a binding from a trusted key, and its digest', async () => {
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 1 });
    await served('/v2/prod/app/manifests/v1');
    await served(`/v2/prod/app/manifests/${img.digest}`);
  });

  it('refuses an unsigned tag with DENIED saying why; repositories outside the policy are served', async () => {
    await image('prod/app', 'v1');
    assert.match(await denied('/v2/prod/app/manifests/v1', 'unsigned'), /prod\/app:v1 is not trusted \(unsigned\): no tag binding/);
    await image('dev/app', 'v1');
    await served('/v2/dev/app/manifests/v1');
  });

  it('refuses a pull by digest without an image signature, and serves one with a cosign signature', async () => {
    const img = await image('prod/app', 'v1');
    await denied(`/v2/prod/app/manifests/${img.digest}`, 'unsigned');
    await pushImageSignature(base, 'prod/app', img.subject, release);
    await served(`/v2/prod/app/manifests/${img.digest}`);
    await denied('/v2/prod/app/manifests/v1', 'unsigned');
  });

  it('keeps signature artifacts and the referrers list readable', async () => {
    const img = await image('prod/app', 'v1');
    const sig = await pushBinding(base, 'prod/app', img.subject, stranger, { tag: 'v1', sequence: 1 });
    await served(`/v2/prod/app/manifests/${sig}`);
    const refs = await http('GET', `${base}/v2/prod/app/referrers/${img.digest}`);
    assert.equal(refs.json<{ manifests: { artifactType: string }[] }>().manifests[0]?.artifactType, MediaTypes.tagBinding);
  });

  it('refuses a binding by an untrusted key', async () => {
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, stranger, { tag: 'v1', sequence: 1 });
    assert.match(await denied('/v2/prod/app/manifests/v1', 'untrusted-key'), /not a known key/);
  });

  it('refuses a revoked key as soon as the policy changes, and an expired one', async () => {
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 1 });
    await served('/v2/prod/app/manifests/v1');
    await setPolicy(base, policy({ ci: { revoked: true } }));
    assert.match(await denied('/v2/prod/app/manifests/v1', 'revoked'), /key ci is revoked/);
    await setPolicy(base, policy({ ci: { notAfter: '2020-01-01T00:00:00Z' } }));
    assert.match(await denied('/v2/prod/app/manifests/v1', 'expired'), /key ci expired/);
  });

  it('refuses a binding for another tag, another repository or another registry', async () => {
    const img = await image('prod/app', 'v1', ['same layer']);
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v2', sequence: 1 });
    await denied('/v2/prod/app/manifests/v1', 'other-tag');
    // A binding of prod/app copied into another repository, onto the same image.
    const other = await image('prod/other', 'v1', ['same layer']);
    assert.equal(other.digest, img.digest);
    const statement = bindingStatement({
      registry: 'reg.test',
      repository: 'prod/app',
      tag: 'v1',
      digest: img.digest,
      sequence: 1,
      issuedAt: new Date().toISOString(),
    });
    await pushBundle(
      base,
      'prod/other',
      other.subject,
      await signStatement(statement, parsePrivateKey(ci.privatePem)),
      MediaTypes.tagBinding,
      statement,
    );
    await denied('/v2/prod/other/manifests/v1', 'other-repository');
    const third = await image('prod/third', 'v1');
    await pushBinding(base, 'prod/third', third.subject, ci, { tag: 'v1', sequence: 1, registry: 'elsewhere.example' });
    await denied('/v2/prod/third/manifests/v1', 'other-registry');
  });

  it('refuses a binding whose signed digest is not the manifest it hangs on', async () => {
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 1, digest: sha256('another manifest') });
    await denied('/v2/prod/app/manifests/v1', 'wrong-digest');
  });

  it('refuses a tampered bundle', async () => {
    const img = await image('prod/app', 'v1');
    const statement = bindingStatement({
      registry: 'reg.test',
      repository: 'prod/app',
      tag: 'v2',
      digest: img.digest,
      sequence: 1,
      issuedAt: new Date().toISOString(),
    });
    const bundle = JSON.parse((await signStatement(statement, parsePrivateKey(ci.privatePem))).toString());
    const forged = { ...statement, predicate: { ...statement.predicate, tag: 'v1' } };
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(forged)).toString('base64');
    await pushBundle(base, 'prod/app', img.subject, Buffer.from(JSON.stringify(bundle)), MediaTypes.tagBinding, forged);
    assert.match(await denied('/v2/prod/app/manifests/v1', 'invalid-signature'), /signature does not verify/);
  });

  it('refuses a rollback: the tag moved back to an image whose binding is older than the highest seen, also after a restart', async () => {
    const old = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', old.subject, ci, { tag: 'v1', sequence: 1 });
    const fresh = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', fresh.subject, ci, { tag: 'v1', sequence: 2 });
    await served('/v2/prod/app/manifests/v1');
    // Point v1 back at the old, once validly signed image.
    const put = await http('PUT', `${base}/v2/prod/app/manifests/v1`, {
      body: old.manifest,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(put.status, 201);
    assert.match(await denied('/v2/prod/app/manifests/v1', 'stale-binding'), /sequence 1 is older than 2/);
    // Deleting the newer binding's image does not make the old binding current again.
    await http('DELETE', `${base}/v2/prod/app/manifests/${fresh.digest}`);
    await denied('/v2/prod/app/manifests/v1', 'stale-binding');
    await restart();
    await denied('/v2/prod/app/manifests/v1', 'stale-binding');
  });

  it('refuses a rollback past a binding that arrived while the tag was being pulled (no stale cached decision)', async () => {
    const put = (tag: string, manifest: Buffer) =>
      http('PUT', `${base}/v2/prod/app/manifests/${tag}`, {
        body: manifest,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
    for (let i = 0; i < 5; i++) {
      const tag = `race${i}`;
      const old = await image('prod/app', tag);
      await pushBinding(base, 'prod/app', old.subject, ci, { tag, sequence: 1 });
      const fresh = await image('prod/app', `next${i}`);
      let pulling = true;
      const pullers = Array.from({ length: 4 }, async () => {
        while (pulling) await http('GET', `${base}/v2/prod/app/manifests/${tag}`);
      });
      await pushBinding(base, 'prod/app', fresh.subject, ci, { tag, sequence: 2 });
      pulling = false;
      await Promise.all(pullers);
      assert.equal((await put(tag, fresh.manifest)).status, 201);
      await served(`/v2/prod/app/manifests/${tag}`);
      assert.equal((await put(tag, old.manifest)).status, 201, 'a pusher without the key rolls the tag back');
      await denied(`/v2/prod/app/manifests/${tag}`, 'stale-binding');
    }
  });

  it('a binding for another registry sharing the key does not raise the tag here', async () => {
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 100 });
    await served('/v2/prod/app/manifests/v1');
    const staging = await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 200, registry: 'staging.test' });
    await served('/v2/prod/app/manifests/v1');
    assert.equal((await http('DELETE', `${base}/v2/prod/app/manifests/${staging}`)).status, 202);
    await served('/v2/prod/app/manifests/v1');
  });

  it('remembers a binding whose node died right after linking it: a rollback past it stays refused after a restart', async () => {
    const old = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', old.subject, ci, { tag: 'v1', sequence: 1 });
    const fresh = await image('prod/app', 'next');
    const meta = node.stores.meta;
    const putManifest = meta.putManifest.bind(meta);
    meta.putManifest = async (...args) => {
      await putManifest(...args);
      throw new Error('killed right after the commit'); // nothing after the commit runs, as after kill -9
    };
    const binding = await pushBinding(base, 'prod/app', fresh.subject, ci, { tag: 'v1', sequence: 2 }).catch((e: Error) => e.message);
    assert.match(String(binding), /500/, 'the push saw the crash');
    await restart();
    await denied('/v2/prod/app/manifests/v1', 'stale-binding');
  });

  it('requires the threshold of distinct trusted keys at the same sequence', async () => {
    await setPolicy(base, policy({ threshold: 2 }));
    const img = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 3 });
    assert.match(await denied('/v2/prod/app/manifests/v1', 'threshold'), /1 of 2 trusted keys/);
    await pushBinding(base, 'prod/app', img.subject, release, { tag: 'v1', sequence: 3 });
    await served('/v2/prod/app/manifests/v1');
  });

  it('audit mode serves what enforce would refuse, and counts it', async () => {
    await setPolicy(base, policy({ mode: 'audit' }));
    await image('prod/app', 'v1');
    await served('/v2/prod/app/manifests/v1');
    const stats = (await http('GET', `${base}/georeg/v1/trust`)).json<{ decisions: Record<string, number> }>();
    assert.equal(stats.decisions['audit/unsigned'], 2);
  });

  it('serves the children of a signed multi-arch index by digest', async () => {
    const a = await image('prod/multi', 'amd64');
    const b = await image('prod/multi', 'arm64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [a.subject, b.subject].map((s, i) => ({ ...s, platform: { os: 'linux', architecture: i ? 'arm64' : 'amd64' } })),
      }),
    );
    assert.equal(
      (
        await http('PUT', `${base}/v2/prod/multi/manifests/latest`, {
          body: index,
          headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
        })
      ).status,
      201,
    );
    await denied(`/v2/prod/multi/manifests/${a.digest}`, 'unsigned');
    await pushBinding(base, 'prod/multi', subjectOf(index, 'application/vnd.oci.image.index.v1+json'), ci, { tag: 'latest', sequence: 1 });
    await served('/v2/prod/multi/manifests/latest');
    await served(`/v2/prod/multi/manifests/${a.digest}`);
    await served(`/v2/prod/multi/manifests/${b.digest}`);
  });

  it('a manifest calling itself a signature is gated like any image: by tag, by digest, as an index', async () => {
    const img = await pushImage(base, 'prod/app', 'v1', ['runnable'], { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
    await denied('/v2/prod/app/manifests/v1', 'unsigned');
    await denied(`/v2/prod/app/manifests/${img.digest}`, 'unsigned');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        manifests: [subjectOf(img.manifest)],
        subject: subjectOf(img.manifest),
      }),
    );
    assert.equal(
      (
        await http('PUT', `${base}/v2/prod/app/manifests/idx`, {
          body: index,
          headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
        })
      ).status,
      201,
    );
    await denied('/v2/prod/app/manifests/idx', 'unsigned');
  });

  it('a binding from an expired key, or from one key of a two-key threshold, cannot lock a tag; revoking a key undoes what it raised', async () => {
    const retired = generateKey();
    const doc = (over: { retired?: object; threshold?: number } = {}) => ({
      ...policy({ threshold: over.threshold ?? 1 }),
      keys: [...policy().keys, { name: 'retired', publicKey: retired.publicPem, notAfter: '2020-01-01T00:00:00Z', ...over.retired }],
      policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci', 'release', 'retired'], threshold: over.threshold ?? 1 }],
    });
    await setPolicy(base, doc());
    const good = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', good.subject, ci, { tag: 'v1', sequence: 5 });
    const other = await image('prod/app', 'other');
    await pushBinding(base, 'prod/app', other.subject, retired, { tag: 'v1', sequence: 9_000_000 });
    await served('/v2/prod/app/manifests/v1');

    await setPolicy(base, doc({ threshold: 2 }));
    await pushBinding(base, 'prod/app', good.subject, release, { tag: 'v1', sequence: 5 });
    await pushBinding(base, 'prod/app', other.subject, release, { tag: 'v1', sequence: 6 });
    await served('/v2/prod/app/manifests/v1');

    // With a threshold of one, release's binding of the other image is the newest decision.
    await setPolicy(base, doc());
    assert.match(await denied('/v2/prod/app/manifests/v1', 'stale-binding'), /older than 6/);
    await setPolicy(base, { ...doc(), keys: doc().keys.map((k) => (k.name === 'release' ? { ...k, revoked: true } : k)) });
    await served('/v2/prod/app/manifests/v1');
  });

  it('remembers a binding whose key was not yet trusted, so a rollback past it is refused once the key is', async () => {
    const late = generateKey();
    const d1 = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', d1.subject, ci, { tag: 'v1', sequence: 5 });
    const d2 = await image('prod/app', 'v1');
    await pushBinding(base, 'prod/app', d2.subject, late, { tag: 'v1', sequence: 10 });
    await denied('/v2/prod/app/manifests/v1', 'untrusted-key');
    const withLate = { ...policy(), keys: [...policy().keys, { name: 'late', publicKey: late.publicPem }] };
    await setPolicy(base, { ...withLate, policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci', 'release', 'late'] }] });
    await served('/v2/prod/app/manifests/v1');
    await http('PUT', `${base}/v2/prod/app/manifests/v1`, {
      body: d1.manifest,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    await denied('/v2/prod/app/manifests/v1', 'stale-binding');
  });

  it('finds a real signature among many junk referrers', async () => {
    const img = await image('prod/app', 'v1');
    const junk = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
    const statement = bindingStatement({
      registry: 'reg.test',
      repository: 'prod/app',
      tag: 'v1',
      digest: img.digest,
      sequence: 1,
      issuedAt: '',
    });
    for (let i = 0; i < 80; i++)
      await pushBundle(base, 'prod/app', img.subject, Buffer.concat([junk, Buffer.from(' '.repeat(i))]), MediaTypes.tagBinding, statement);
    await pushBinding(base, 'prod/app', img.subject, ci, { tag: 'v1', sequence: 1 });
    await served('/v2/prod/app/manifests/v1');
  });

  it('admin API: shows the document, refuses an invalid one with POLICY_INVALID, versions each change', async () => {
    const before = (await http('GET', `${base}/georeg/v1/trust/policy`)).json<{ version: string; document: { keys: unknown[] } }>();
    assert.equal(before.document.keys.length, 2);
    const bad = await http('PUT', `${base}/georeg/v1/trust/policy`, {
      body: JSON.stringify({ keys: [], policies: [{ repositories: ['x'], mode: 'enforce', keys: ['ghost'] }] }),
    });
    assert.match(expectError(bad, 400, 'POLICY_INVALID')?.message ?? '', /unknown key ghost/);
    expectError(await http('PUT', `${base}/georeg/v1/trust/policy`, { body: '{nope' }), 400, 'POLICY_INVALID');
    const next = await setPolicy(base, policy({ mode: 'audit' }));
    assert.notEqual(next, before.version);
  });
});

describe('trust policy versions', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startTestNode();
  });
  afterEach(() => node.close());

  const doc = (glob: string) => ({ keys: [], policies: [{ repositories: [glob], mode: 'off' }] });

  it('drops a replicated document that does not parse or validate, keeping the one held', async () => {
    const held = await setPolicy(node.url, doc('a/**'));
    const later = { wallMs: Date.now() + 10_000, logical: 0, region: 'zz' };
    assert.equal(await node.registry.policies.applyReplicated('{not json', later), false);
    assert.equal(await node.registry.policies.applyReplicated(JSON.stringify({ keys: [], policies: [{ mode: 'x' }] }), later), false);
    assert.equal(node.registry.policies.current.version, held);
  });

  it('keeps the newest of concurrent replicated documents, and a local change orders after the one held', async () => {
    const newer = { wallMs: Date.now() + 60_000, logical: 0, region: 'b' };
    const older = { wallMs: Date.now() + 30_000, logical: 0, region: 'c' };
    await Promise.all([
      node.registry.policies.applyReplicated(JSON.stringify(doc('new/**')), newer),
      node.registry.policies.applyReplicated(JSON.stringify(doc('old/**')), older),
    ]);
    assert.equal(node.registry.policies.current.version, `${newer.wallMs}.0@b`);
    const local = await setPolicy(node.url, doc('mine/**'));
    assert.match(local, /@local$/);
    assert.ok(Number(local.split('.')[0]) >= newer.wallMs, `${local} orders after the held ${newer.wallMs}`);
  });
});

describe('content trust from the config file', function () {
  this.timeout(20_000);

  it('applies trust.policyFile at start, and refuses to start on a bad one', async () => {
    const node = await startTestNode({ trust: { policyFile: await tmpPolicy(JSON.stringify(policy())) } });
    try {
      await pushImage(node.url, 'prod/app', 'v1');
      expectError(await http('GET', `${node.url}/v2/prod/app/manifests/v1`), 403, 'DENIED');
    } finally {
      await node.close();
    }
    await assert.rejects(
      startTestNode({ trust: { policyFile: await tmpPolicy('{"keys":[],"policies":[{"mode":"x"}]}') } }),
      /trust.policyFile .*policies\[0\]/,
    );
  });

  it("reads a key's publicKeyFile relative to trust.policyFile and stores the PEM itself", async () => {
    const doc = policy();
    const file = await tmpPolicy(JSON.stringify({ ...doc, keys: [{ name: 'ci', publicKeyFile: 'ci.pub' }, doc.keys[1]] }));
    await writeFile(join(dirname(file), 'ci.pub'), ci.publicPem);
    const node = await startTestNode({ trust: { policyFile: file } });
    try {
      const stored = (await http('GET', `${node.url}/georeg/v1/trust/policy`)).json<{
        document: { keys: { name: string; publicKey: string }[] };
      }>();
      assert.deepEqual(
        stored.document.keys.map((k) => [k.name, k.publicKey]),
        [
          ['ci', ci.publicPem],
          ['release', release.publicPem],
        ],
      );
    } finally {
      await node.close();
    }
    // Without key files the text is taken as it is: a node re-applies the file only when its text changes.
    const pretty = JSON.stringify(doc, null, 2);
    assert.equal(await readPolicyFile(await tmpPolicy(pretty)), pretty);
    const missing = await tmpPolicy(JSON.stringify({ ...doc, keys: [{ name: 'ci', publicKeyFile: 'absent.pub' }] }));
    await assert.rejects(
      startTestNode({ trust: { policyFile: missing } }),
      /trust.policyFile .*cannot read keys\[0\]\.publicKeyFile .*absent\.pub/,
    );
  });

  it('seeds a node holding no document at the oldest clock, so any replicated document wins over the file', async () => {
    const node = await startTestNode({ trust: { policyFile: await tmpPolicy(JSON.stringify(policy())) } });
    try {
      assert.equal(node.registry.policies.current.version, '0.0@local');
      assert.equal(
        await node.registry.policies.applyReplicated(JSON.stringify({ keys: [], policies: [] }), { wallMs: 1, logical: 0, region: 'eu' }),
        true,
      );
    } finally {
      await node.close();
    }
  });
});

async function tmpPolicy(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'georeg-policy-')), 'policy.json');
  await writeFile(file, text);
  return file;
}
