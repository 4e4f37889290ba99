import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  bindingStatement,
  BundleError,
  compileTrust,
  evaluateDigest,
  evaluateTag,
  generateKey,
  imageStatement,
  keyIdOf,
  parsePrivateKey,
  parsePublicKey,
  PolicyError,
  signStatement,
  verifyBundle,
  type Evidence,
  type TagBinding,
} from '../src/index.js';

const digest = `sha256:${createHash('sha256').update('image').digest('hex')}`;
const other = `sha256:${createHash('sha256').update('other').digest('hex')}`;
const ci = generateKey();
const release = generateKey('rsa-2048');
const stranger = generateKey();
const NOW = Date.parse('2026-06-01T00:00:00Z');

function trust(extra: { keys?: object; policy?: object; identity?: string } = {}) {
  return compileTrust({
    identity: extra.identity ?? 'reg.example',
    keys: [
      { name: 'ci', publicKey: ci.publicPem, ...extra.keys },
      { name: 'release', publicKey: release.publicPem },
    ],
    policies: [{ repositories: ['prod/**'], mode: 'enforce', keys: ['ci', 'release'], ...extra.policy }],
  });
}

function binding(over: Partial<TagBinding> = {}): TagBinding {
  return { registry: 'reg.example', repository: 'prod/app', tag: 'v1', digest, sequence: 5, issuedAt: '2026-06-01T00:00:00Z', ...over };
}

async function signed(key: { privatePem: string }, over: Partial<TagBinding> = {}): Promise<Buffer> {
  return signStatement(bindingStatement(binding(over)), parsePrivateKey(key.privatePem));
}

async function evidence(t: ReturnType<typeof trust>, ...bundles: Buffer[]): Promise<Evidence[]> {
  return bundles.map((b) => {
    try {
      return verifyBundle(b, t.publicKeys);
    } catch (e) {
      return e as BundleError;
    }
  });
}

async function tagDecision(t: ReturnType<typeof trust>, bundles: Buffer[], highest = 0) {
  const policy = t.policyFor('prod/app');
  assert.ok(policy);
  return evaluateTag(t, policy, { repository: 'prod/app', tag: 'v1', digest }, await evidence(t, ...bundles), highest, NOW);
}

describe('trust: keys', () => {
  it('generates ECDSA P-256 and RSA keys whose id is base64(sha256(SPKI DER))', () => {
    for (const alg of ['ecdsa-p256', 'rsa-3072'] as const) {
      const k = generateKey(alg);
      const der = parsePublicKey(k.publicPem).export({ type: 'spki', format: 'der' });
      assert.equal(k.keyId, createHash('sha256').update(der).digest('base64'));
      assert.equal(keyIdOf(parsePrivateKey(k.privatePem)), k.keyId);
    }
  });

  it('refuses a private key where a public key belongs, and garbage', () => {
    assert.throws(() => parsePublicKey(ci.privatePem), /expected a public key/);
    assert.throws(() => parsePublicKey('nope'), /not a PEM public key/);
  });
});

describe('trust: bundles', () => {
  it('signs offline and verifies with sigstore, returning the statement and key id', async () => {
    const t = trust();
    const v = verifyBundle(await signed(release), t.publicKeys);
    assert.equal(v.keyId, release.keyId);
    assert.equal(v.digest, digest);
    const json = JSON.parse((await signed(ci)).toString());
    assert.equal(json.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(json.verificationMaterial.publicKey.hint, ci.keyId);
    assert.equal(json.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
  });

  it('detects a tampered payload and names an unknown key', async () => {
    const t = trust();
    const json = JSON.parse((await signed(ci)).toString());
    const payload = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString());
    payload.predicate.tag = 'latest';
    json.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    assert.throws(
      () => verifyBundle(Buffer.from(JSON.stringify(json)), t.publicKeys),
      (e: BundleError) => e.problem === 'bad-signature',
    );
    assert.throws(
      () => verifyBundle(Buffer.from('{"x":1}'), t.publicKeys),
      (e: BundleError) => e.problem === 'malformed',
    );
    await assert.rejects(
      async () => verifyBundle(await signed(stranger), t.publicKeys),
      (e: BundleError) => e.problem === 'untrusted-key' && e.keyId === stranger.keyId,
    );
  });
});

describe('trust: policy documents', () => {
  it('matches repository globs in order', () => {
    const t = compileTrust({
      keys: [{ name: 'ci', publicKey: ci.publicPem }],
      policies: [
        { repositories: ['prod/*'], mode: 'enforce', keys: ['ci'] },
        { repositories: ['**'], mode: 'audit', keys: ['ci'] },
      ],
    });
    assert.equal(t.policyFor('prod/app')?.mode, 'enforce');
    assert.equal(t.policyFor('prod/a/b')?.mode, 'audit');
    assert.equal(t.policyFor('dev')?.mode, 'audit');
  });

  it('matches * within a segment and ** across, without backtracking blow-ups', () => {
    const t = compileTrust({ keys: [], policies: [{ repositories: ['a/*/c', 'x/**', 'p*q'], mode: 'off' }] });
    assert.ok(t.policyFor('a/b/c'));
    assert.ok(!t.policyFor('a/b/b/c'));
    assert.ok(t.policyFor('x/y/z'));
    assert.ok(t.policyFor('pq'));
    assert.ok(!t.policyFor('p/q'));
    const evil = compileTrust({ keys: [], policies: [{ repositories: ['**a'.repeat(8) + '**b'], mode: 'off' }] });
    const started = Date.now();
    assert.equal(evil.policyFor('a'.repeat(200)), undefined);
    assert.ok(Date.now() - started < 500, 'linear-time matching');
  });

  it('names the place of every mistake', () => {
    const bad: [unknown, RegExp][] = [
      [{ keys: [{ name: 'k', publicKey: 'x' }], policies: [] }, /keys\[0\] \(k\): not a PEM public key/],
      [{ keys: [], policies: [{ repositories: ['a'], mode: 'enforce', keys: ['nope'] }] }, /policies\[0\]\.keys names unknown key nope/],
      [
        { keys: [{ name: 'ci', publicKey: ci.publicPem }], policies: [{ repositories: ['a'], mode: 'strict', keys: ['ci'] }] },
        /mode must be one of/,
      ],
      [
        {
          keys: [{ name: 'ci', publicKey: ci.publicPem }],
          policies: [{ repositories: ['a'], mode: 'enforce', keys: ['ci'], threshold: 2 }],
        },
        /threshold must be/,
      ],
      [{ keys: [{ name: 'ci', publicKey: ci.publicPem, notAfter: 'soon' }], policies: [] }, /notAfter must be an RFC 3339 time/],
      [{ keys: [], policies: [], extra: 1 }, /unknown field extra/],
      [{ keys: [], policies: [{ repositories: ['A(b'], mode: 'off' }] }, /repository glob/],
      [
        {
          keys: [
            { name: 'a', publicKey: ci.publicPem },
            { name: 'b', publicKey: ci.publicPem, revoked: true },
          ],
          policies: [],
        },
        /key b has the same public key/,
      ],
    ];
    for (const [doc, re] of bad)
      assert.throws(
        () => compileTrust(doc),
        (e: Error) => e instanceof PolicyError && re.test(e.message),
        re.source,
      );
  });
});

describe('trust: tag decisions', () => {
  it('allows a binding for exactly this registry, repository, tag and digest', async () => {
    const d = await tagDecision(trust(), [await signed(ci)]);
    assert.equal(d.allowed, true, d.message);
    assert.deepEqual(d.signers, ['ci']);
    assert.equal(d.sequence, 5);
  });

  const denials: [string, () => Promise<Buffer[]>, ReturnType<typeof trust>, string, number?][] = [
    ['unsigned', async () => [], trust(), 'unsigned'],
    ['untrusted key', async () => [await signed(stranger)], trust(), 'untrusted-key'],
    ['revoked key', async () => [await signed(ci)], trust({ keys: { revoked: true } }), 'revoked'],
    ['expired key', async () => [await signed(ci)], trust({ keys: { notAfter: '2026-01-01T00:00:00Z' } }), 'expired'],
    ['key not yet valid', async () => [await signed(ci)], trust({ keys: { notBefore: '2027-01-01T00:00:00Z' } }), 'not-yet-valid'],
    ['binding for another tag', async () => [await signed(ci, { tag: 'v2' })], trust(), 'other-tag'],
    ['binding for another repository', async () => [await signed(ci, { repository: 'prod/other' })], trust(), 'other-repository'],
    ['binding for another registry', async () => [await signed(ci, { registry: 'evil.example' })], trust(), 'other-registry'],
    ['binding for another digest', async () => [await signed(ci, { digest: other })], trust(), 'wrong-digest'],
    ['older sequence (rollback)', async () => [await signed(ci, { sequence: 4 })], trust(), 'stale-binding', 5],
    ['threshold not met', async () => [await signed(ci)], trust({ policy: { threshold: 2 } }), 'threshold'],
  ];
  for (const [name, bundles, t, result, highest] of denials) {
    it(`denies: ${name}`, async () => {
      const d = await tagDecision(t, await bundles(), highest ?? 0);
      assert.equal(d.allowed, false);
      assert.equal(d.result, result, d.message);
      assert.ok(d.message.length > 10);
    });
  }

  it('meets a threshold of two with two keys at the same sequence, not at different ones', async () => {
    const t = trust({ policy: { threshold: 2 } });
    assert.equal((await tagDecision(t, [await signed(ci), await signed(release)])).allowed, true);
    const split = await tagDecision(t, [await signed(ci, { sequence: 6 }), await signed(release)]);
    assert.equal(split.result, 'threshold');
  });

  it('a valid signature beside an invalid one still counts', async () => {
    assert.equal((await tagDecision(trust(), [await signed(stranger), await signed(ci)])).allowed, true);
  });

  it('recomputes when a key window edge passes', async () => {
    const d = await tagDecision(trust({ keys: { notAfter: '2026-07-01T00:00:00Z' } }), [await signed(ci)]);
    assert.equal(d.validUntil, Date.parse('2026-07-01T00:00:00Z'));
  });
});

describe('trust: digest decisions', () => {
  it('accepts a cosign image signature or a binding of this repository, from trusted keys', async () => {
    const t = trust();
    const policy = t.policyFor('prod/app');
    assert.ok(policy);
    const image = await signStatement(imageStatement('reg.example/prod/app', digest), parsePrivateKey(ci.privatePem));
    assert.equal(evaluateDigest(t, policy, 'prod/app', digest, await evidence(t, image), NOW).allowed, true);
    assert.equal(evaluateDigest(t, policy, 'prod/app', digest, await evidence(t, await signed(release)), NOW).allowed, true);
    assert.equal(evaluateDigest(t, policy, 'prod/other', digest, await evidence(t, await signed(release)), NOW).result, 'other-repository');
    assert.equal(evaluateDigest(t, policy, 'prod/app', other, await evidence(t, image), NOW).result, 'wrong-digest');
    assert.equal(evaluateDigest(t, policy, 'prod/app', digest, [], NOW).result, 'unsigned');
    const elsewhere = await signStatement(imageStatement('reg.example/staging/app', digest), parsePrivateKey(ci.privatePem));
    assert.equal(
      evaluateDigest(t, policy, 'prod/app', digest, await evidence(t, elsewhere), NOW).result,
      'other-repository',
      'a signature copied from another repository',
    );
  });
});
