import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushBlob, pushImage, sha256, type PushedImage } from '../support/client.js';

import { digestOf, EMPTY_DESCRIPTOR as EMPTY, MediaTypes, type Descriptor, type Digest } from 'georeg/oci';

const OCI_MANIFEST = MediaTypes.ociManifest;
const OCI_INDEX = MediaTypes.ociIndex;
const SIG = 'application/vnd.example.signature.v1';
const SBOM = 'application/vnd.example.sbom.v1';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

describe('http: referrers', () => {
  let node: TestNode;
  let url: (path: string) => string;
  let subject: PushedImage;

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
    subject = await pushImage(node.url, 'ref/app', 'v1');
    await pushBlob(node.url, 'ref/app', '{}');
  });
  after(async () => {
    await node.close();
  });

  /** Push an artifact manifest pointing at `subjectDigest`; returns its bytes, digest and the PUT response. */
  async function pushReferrer(
    repo: string,
    subjectDigest: string,
    subjectSize: number,
    artifactType: string | undefined,
    annotations: Record<string, string>,
    ref?: string,
  ) {
    const payload = `${artifactType}:${JSON.stringify(annotations)}`;
    const layer = { mediaType: 'application/octet-stream', digest: await pushBlob(node.url, repo, payload), size: payload.length };
    const doc: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: EMPTY,
      layers: [layer],
      subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: subjectSize },
      annotations,
    };
    if (artifactType !== undefined) doc.artifactType = artifactType;
    const bytes = Buffer.from(JSON.stringify(doc));
    const digest = digestOf(bytes);
    const res = await http('PUT', url(`/v2/${repo}/manifests/${ref ?? digest}`), {
      body: bytes,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    return { bytes, digest, res };
  }

  async function referrers(repo: string, digest: string, query = ''): Promise<{ index: Index; res: Awaited<ReturnType<typeof http>> }> {
    const res = await http('GET', url(`/v2/${repo}/referrers/${digest}${query}`));
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.header('content-type'), OCI_INDEX);
    return { index: res.json<Index>(), res };
  }

  let sig: { bytes: Buffer; digest: Digest };
  let sbom: { bytes: Buffer; digest: Digest };

  it('PUT of a manifest with a subject answers 201 with OCI-Subject', async () => {
    const pushed = await pushReferrer('ref/app', subject.digest, subject.manifest.length, SIG, { 'org.example.signer': 'alice' });
    assert.equal(pushed.res.status, 201, pushed.res.body.toString());
    assert.equal(pushed.res.header('oci-subject'), subject.digest);
    assert.equal(pushed.res.header('docker-content-digest'), pushed.digest);
    sig = pushed;
    const other = await pushReferrer(
      'ref/app',
      subject.digest,
      subject.manifest.length,
      SBOM,
      { 'org.example.format': 'spdx' },
      'sbom-tag',
    );
    assert.equal(other.res.status, 201);
    assert.equal(other.res.header('oci-subject'), subject.digest);
    sbom = other;
  });

  it('GET referrers returns an OCI index of descriptors with artifactType and annotations', async () => {
    const { index } = await referrers('ref/app', subject.digest);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    const expected: Descriptor[] = [
      {
        mediaType: OCI_MANIFEST,
        digest: sig.digest,
        size: sig.bytes.length,
        artifactType: SIG,
        annotations: { 'org.example.signer': 'alice' },
      },
      {
        mediaType: OCI_MANIFEST,
        digest: sbom.digest,
        size: sbom.bytes.length,
        artifactType: SBOM,
        annotations: { 'org.example.format': 'spdx' },
      },
    ];
    const byDigest = (a: Descriptor, b: Descriptor): number => (a.digest < b.digest ? -1 : 1);
    assert.deepEqual([...index.manifests].sort(byDigest), expected.sort(byDigest));
  });

  it('the artifactType filter answers only matching referrers with OCI-Filters-Applied', async () => {
    const { index, res } = await referrers('ref/app', subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    assert.equal(res.header('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      index.manifests.map((d) => d.digest),
      [sbom.digest],
    );
    const none = await referrers('ref/app', subject.digest, '?artifactType=application%2Fvnd.nothing');
    assert.equal(none.res.header('oci-filters-applied'), 'artifactType');
    assert.deepEqual(none.index.manifests, []);
  });

  it('without a filter there is no OCI-Filters-Applied header', async () => {
    const { res } = await referrers('ref/app', subject.digest);
    assert.equal(res.header('oci-filters-applied'), undefined);
  });

  it("a referrer without artifactType is listed with its config's media type", async () => {
    const config = JSON.stringify({ signature: 'abc' });
    const configDesc = {
      mediaType: 'application/vnd.example.legacy.config',
      digest: await pushBlob(node.url, 'ref/app', config),
      size: config.length,
    };
    const doc = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: configDesc,
        layers: [],
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
      }),
    );
    const res = await http('PUT', url(`/v2/ref/app/manifests/${sha256(doc)}`), { body: doc, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 201);
    const { index } = await referrers('ref/app', subject.digest, '?artifactType=application%2Fvnd.example.legacy.config');
    assert.deepEqual(index.manifests, [
      { mediaType: OCI_MANIFEST, digest: sha256(doc), size: doc.length, artifactType: 'application/vnd.example.legacy.config' },
    ]);
  });

  it('a referrer pushed before its subject exists is accepted and listed', async () => {
    await pushBlob(node.url, 'ref/early', '{}');
    // The subject's digest is known ahead (computed by the client) but not pushed yet.
    const future = await pushImage(node.url, 'ref/scratch', 'x'); // only to build a manifest document
    const early = await pushReferrer('ref/early', future.digest, future.manifest.length, SIG, { when: 'before' });
    assert.equal(early.res.status, 201, early.res.body.toString());
    assert.equal(early.res.header('oci-subject'), future.digest);
    expectError(await http('GET', url(`/v2/ref/early/manifests/${future.digest}`)), 404, 'MANIFEST_UNKNOWN');
    const { index } = await referrers('ref/early', future.digest);
    assert.deepEqual(
      index.manifests.map((d) => d.digest),
      [early.digest],
    );
    // Now push the subject itself (its blobs first); the referrer stays listed.
    const manifest = JSON.parse(future.manifest.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const mount = await http('POST', url(`/v2/ref/early/blobs/uploads/?mount=${d}&from=ref/scratch`));
      assert.equal(mount.status, 201);
    }
    const put = await http('PUT', url(`/v2/ref/early/manifests/latest`), {
      body: future.manifest,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(put.status, 201);
    assert.deepEqual(
      (await referrers('ref/early', future.digest)).index.manifests.map((d) => d.digest),
      [early.digest],
    );
  });

  it('deleting a referrer removes it from the list', async () => {
    const gone = await pushReferrer('ref/app', subject.digest, subject.manifest.length, 'application/vnd.example.temp', {});
    assert.equal(gone.res.status, 201);
    const before = (await referrers('ref/app', subject.digest)).index.manifests.map((d) => d.digest);
    assert.ok(before.includes(gone.digest));
    assert.equal((await http('DELETE', url(`/v2/ref/app/manifests/${gone.digest}`))).status, 202);
    const after = (await referrers('ref/app', subject.digest)).index.manifests.map((d) => d.digest);
    assert.ok(!after.includes(gone.digest));
    assert.equal(after.length, before.length - 1);
  });

  it('referrers are per repository', async () => {
    await pushImage(node.url, 'ref/other', 'v1');
    const { index } = await referrers('ref/other', subject.digest);
    assert.deepEqual(index.manifests, []);
  });

  it('a digest with no referrers answers 200 with an empty list', async () => {
    const { index } = await referrers('ref/app', sha256('nothing refers to this'));
    assert.deepEqual(index, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    // The artifact's own digest has no referrers either.
    assert.deepEqual((await referrers('ref/app', sig.digest)).index.manifests, []);
  });

  it('a bad digest answers 400 DIGEST_INVALID', async () => {
    for (const bad of ['latest', 'sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'G'.repeat(64)}`]) {
      expectError(await http('GET', url(`/v2/ref/app/referrers/${bad}`)), 400, 'DIGEST_INVALID');
    }
  });

  it('a subject that is not a descriptor answers 400 MANIFEST_INVALID', async () => {
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY, layers: [], subject: { digest: 'nope' } });
    expectError(
      await http('PUT', url('/v2/ref/app/manifests/badsubject'), { body: doc, headers: { 'Content-Type': OCI_MANIFEST } }),
      400,
      'MANIFEST_INVALID',
    );
  });
});
