import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushBlob, pushImage, sha256, type Res } from '../support/client.js';
import { EMPTY_DESCRIPTOR, MediaTypes, parseDigest, type Descriptor, type Digest } from 'georeg/oci';

const { ociManifest: OCI_MANIFEST, ociIndex: OCI_INDEX, dockerManifest: DOCKER_MANIFEST, dockerManifestList: DOCKER_LIST } = MediaTypes;

describe('http: manifests', () => {
  let node: TestNode;
  let url: (path: string) => string;

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
  });
  after(async () => {
    await node.close();
  });

  function put(repo: string, ref: string, body: Buffer | string, contentType: string = OCI_MANIFEST): Promise<Res> {
    return http('PUT', url(`/v2/${repo}/manifests/${ref}`), { body, headers: { 'Content-Type': contentType } });
  }

  /** Push a blob and return its descriptor. */
  async function blob(repo: string, data: string, mediaType: string): Promise<Descriptor> {
    return { mediaType, digest: parseDigest(await pushBlob(node.url, repo, data)), size: Buffer.byteLength(data) };
  }

  /** An OCI image manifest (bytes as given, with a deliberately unusual layout). */
  async function ociImage(repo: string, seed: string): Promise<Buffer> {
    const config = await blob(
      repo,
      JSON.stringify({ architecture: 'amd64', os: 'linux', seed }),
      'application/vnd.oci.image.config.v1+json',
    );
    const layer = await blob(repo, `layer ${seed}`, 'application/vnd.oci.image.layer.v1.tar+gzip');
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, null, 3) + '\n');
  }

  async function dockerImage(repo: string, seed: string): Promise<Buffer> {
    const config = await blob(repo, JSON.stringify({ os: 'linux', seed }), 'application/vnd.docker.container.image.v1+json');
    const layer = await blob(repo, `docker layer ${seed}`, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }));
  }

  describe('push and pull', () => {
    let bytes: Buffer;
    let digest: string;
    before(async () => {
      bytes = await ociImage('man/pull', 'pull');
      digest = sha256(bytes);
    });

    it('PUT by tag answers 201 with Location and Docker-Content-Digest', async () => {
      const res = await put('man/pull', 'v1', bytes);
      assert.equal(res.status, 201, res.body.toString());
      assert.equal(res.header('location'), `/v2/man/pull/manifests/${digest}`);
      assert.equal(res.header('docker-content-digest'), digest);
      assert.equal(res.header('oci-subject'), undefined);
    });

    for (const ref of ['tag', 'digest'] as const) {
      it(`GET by ${ref} returns exactly the stored bytes, type and digest`, async () => {
        const res = await http('GET', url(`/v2/man/pull/manifests/${ref === 'tag' ? 'v1' : digest}`), {
          headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
        });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, bytes);
        assert.equal(res.header('content-type'), OCI_MANIFEST);
        assert.equal(res.header('docker-content-digest'), digest);
        assert.equal(res.header('content-length'), String(bytes.length));
        assert.equal(res.header('etag'), `"${digest}"`);
      });
    }

    it('HEAD by tag and by digest answers 200 with headers and no body', async () => {
      for (const ref of ['v1', digest]) {
        const res = await http('HEAD', url(`/v2/man/pull/manifests/${ref}`));
        assert.equal(res.status, 200);
        assert.equal(res.body.length, 0);
        assert.equal(res.header('content-type'), OCI_MANIFEST);
        assert.equal(res.header('docker-content-digest'), digest);
        assert.equal(res.header('content-length'), String(bytes.length));
      }
    });

    it('PUT by digest answers 201; re-putting the same manifest is idempotent', async () => {
      const byDigest = await put('man/pull', digest, bytes);
      assert.equal(byDigest.status, 201);
      assert.equal(byDigest.header('docker-content-digest'), digest);
      const again = await put('man/pull', 'v1', bytes);
      assert.equal(again.status, 201);
    });

    it('moving a tag serves the new manifest', async () => {
      const other = await ociImage('man/pull', 'moved');
      assert.equal((await put('man/pull', 'moving', bytes)).status, 201);
      assert.equal((await put('man/pull', 'moving', other)).status, 201);
      const res = await http('GET', url('/v2/man/pull/manifests/moving'));
      assert.deepEqual(res.body, other);
      assert.equal(res.header('docker-content-digest'), sha256(other));
    });

    it('a manifest is not visible from another repository', async () => {
      expectError(await http('GET', url(`/v2/man/other/manifests/${digest}`)), 404, 'MANIFEST_UNKNOWN');
      expectError(await http('GET', url('/v2/man/other/manifests/v1')), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('media types', () => {
    it('a Docker schema2 manifest is stored and served with its own media type', async () => {
      const bytes = await dockerImage('man/docker', 'd1');
      const res = await put('man/docker', 'd1', bytes, DOCKER_MANIFEST);
      assert.equal(res.status, 201, res.body.toString());
      const get = await http('GET', url('/v2/man/docker/manifests/d1'), { headers: { Accept: DOCKER_MANIFEST } });
      assert.equal(get.status, 200);
      assert.equal(get.header('content-type'), DOCKER_MANIFEST);
      assert.deepEqual(get.body, bytes);
    });

    it('a Docker manifest list of existing manifests is accepted', async () => {
      const amd = await dockerImage('man/docker', 'amd64');
      const arm = await dockerImage('man/docker', 'arm64');
      assert.equal((await put('man/docker', sha256(amd), amd, DOCKER_MANIFEST)).status, 201);
      assert.equal((await put('man/docker', sha256(arm), arm, DOCKER_MANIFEST)).status, 201);
      const list = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: DOCKER_LIST,
          manifests: [
            { mediaType: DOCKER_MANIFEST, digest: sha256(amd), size: amd.length, platform: { architecture: 'amd64', os: 'linux' } },
            { mediaType: DOCKER_MANIFEST, digest: sha256(arm), size: arm.length, platform: { architecture: 'arm64', os: 'linux' } },
          ],
        }),
      );
      const res = await put('man/docker', 'multi', list, DOCKER_LIST);
      assert.equal(res.status, 201, res.body.toString());
      const get = await http('GET', url('/v2/man/docker/manifests/multi'));
      assert.equal(get.header('content-type'), DOCKER_LIST);
      assert.deepEqual(get.body, list);
    });

    it('an OCI index of existing manifests is accepted', async () => {
      const child = await ociImage('man/index', 'child');
      assert.equal((await put('man/index', sha256(child), child)).status, 201);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [
            { mediaType: OCI_MANIFEST, digest: sha256(child), size: child.length, platform: { architecture: 'amd64', os: 'linux' } },
          ],
        }),
      );
      const res = await put('man/index', 'idx', index, OCI_INDEX);
      assert.equal(res.status, 201, res.body.toString());
      const get = await http('GET', url('/v2/man/index/manifests/idx'));
      assert.equal(get.header('content-type'), OCI_INDEX);
      assert.deepEqual(get.body, index);
    });

    it('an index whose child manifest is missing answers 404 MANIFEST_BLOB_UNKNOWN (as Distribution does)', async () => {
      const missing = sha256('no such child manifest');
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: missing, size: 10 }],
      });
      expectError(await put('man/index', 'broken', index, OCI_INDEX), 404, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await http('GET', url('/v2/man/index/manifests/broken')), 404, 'MANIFEST_UNKNOWN');
    });

    it('an index whose child descriptor has the wrong size answers 400 MANIFEST_INVALID', async () => {
      const child = await ociImage('man/index', 'sized-child');
      assert.equal((await put('man/index', sha256(child), child)).status, 201);
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(child), size: 1 }],
      });
      expectError(await put('man/index', 'missized', index, OCI_INDEX), 400, 'MANIFEST_INVALID');
      expectError(await http('GET', url('/v2/man/index/manifests/missized')), 404, 'MANIFEST_UNKNOWN');
      // Replicated, it is taken: its region accepted it (perhaps before sizes were checked), and
      // refusing it would hold up every later change to the repository.
      await node.registry.replication.applyReplicatedManifest('man/index', sha256(index) as Digest, Buffer.from(index), OCI_INDEX);
      assert.equal((await http('GET', url(`/v2/man/index/manifests/${sha256(index)}`))).status, 200);
    });

    it('a Docker list whose child is missing answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
      const list = JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256('absent child'), size: 10 }],
      });
      expectError(await put('man/docker', 'broken', list, DOCKER_LIST), 404, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('an artifact manifest with artifactType and the empty config is accepted', async () => {
      assert.equal(sha256('{}'), EMPTY_DESCRIPTOR.digest);
      const empty = { mediaType: MediaTypes.ociEmpty, digest: await pushBlob(node.url, 'man/artifact', '{}'), size: 2 };
      assert.equal(empty.digest, EMPTY_DESCRIPTOR.digest);
      const payload = await blob('man/artifact', '{"sbom":true}', 'application/spdx+json');
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.sbom.v1',
          config: empty,
          layers: [payload],
          annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
        }),
      );
      const res = await put('man/artifact', 'sbom', bytes);
      assert.equal(res.status, 201, res.body.toString());
      const get = await http('GET', url('/v2/man/artifact/manifests/sbom'));
      assert.equal(get.status, 200);
      assert.deepEqual(get.body, bytes);
      assert.equal(get.header('content-type'), OCI_MANIFEST);
      const cfg = await http('GET', url(`/v2/man/artifact/blobs/${EMPTY_DESCRIPTOR.digest}`));
      assert.equal(cfg.body.toString(), '{}');
    });

    it('an artifact whose only layer is the empty descriptor is accepted', async () => {
      await pushBlob(node.url, 'man/artifact', '{}');
      const empty = { mediaType: MediaTypes.ociEmpty, digest: EMPTY_DESCRIPTOR.digest, size: 2 };
      const bytes = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.thing',
        config: empty,
        layers: [empty],
      });
      assert.equal((await put('man/artifact', 'thing', bytes)).status, 201);
    });
  });

  describe('rejections', () => {
    it('a missing layer answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
      const config = await blob('man/reject', '{"os":"linux"}', 'application/vnd.oci.image.config.v1+json');
      const bytes = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config,
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('never pushed layer'), size: 18 }],
      });
      expectError(await put('man/reject', 'nolayer', bytes), 404, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await http('GET', url('/v2/man/reject/manifests/nolayer')), 404, 'MANIFEST_UNKNOWN');
    });

    it('a missing config answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
      const bytes = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('never pushed config'), size: 19 },
        layers: [],
      });
      expectError(await put('man/reject', 'noconfig', bytes), 404, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('a layer that exists only in another repository answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
      const bytes = await ociImage('man/elsewhere', 'elsewhere');
      expectError(await put('man/reject', 'foreign', bytes), 404, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('PUT by digest with a mismatched body answers 400 DIGEST_INVALID', async () => {
      const bytes = await ociImage('man/reject', 'mismatch');
      const other = sha256(Buffer.concat([bytes, Buffer.from(' ')]));
      expectError(await put('man/reject', other, bytes), 400, 'DIGEST_INVALID');
      expectError(await http('GET', url(`/v2/man/reject/manifests/${other}`)), 404, 'MANIFEST_UNKNOWN');
      expectError(await http('GET', url(`/v2/man/reject/manifests/${sha256(bytes)}`)), 404, 'MANIFEST_UNKNOWN');
    });

    it('a non-JSON body answers 400 MANIFEST_INVALID', async () => {
      expectError(await put('man/reject', 'garbage', 'this is not json {'), 400, 'MANIFEST_INVALID');
      expectError(await put('man/reject', 'garbage', ''), 400, 'MANIFEST_INVALID');
      expectError(await put('man/reject', 'garbage', '[1,2,3]'), 400, 'MANIFEST_INVALID');
    });

    it('structurally invalid manifests answer 400 MANIFEST_INVALID', async () => {
      const config = await blob('man/reject', '{"os":"plan9"}', 'application/vnd.oci.image.config.v1+json');
      const bad: unknown[] = [
        { schemaVersion: 1, mediaType: OCI_MANIFEST, config, layers: [] },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: 'nope', layers: [] },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, size: -1 }, layers: [] },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, digest: 'sha256:zz' }, layers: [] },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, size: config.size + 1 }, layers: [] },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: {} },
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [], annotations: { a: 1 } },
        { schemaVersion: 2, mediaType: OCI_INDEX, manifests: 'none' },
        { schemaVersion: 2, mediaType: 'text/plain', config, layers: [] },
        { schemaVersion: 2 },
      ];
      for (const doc of bad) {
        const ct = (doc as { mediaType?: string }).mediaType === OCI_INDEX ? OCI_INDEX : OCI_MANIFEST;
        expectError(await put('man/reject', 'invalid', JSON.stringify(doc), ct), 400, 'MANIFEST_INVALID');
      }
    });

    it('a mediaType that contradicts Content-Type answers 400 MANIFEST_INVALID', async () => {
      const bytes = await ociImage('man/reject', 'contradiction');
      expectError(await put('man/reject', 'contra', bytes, OCI_INDEX), 400, 'MANIFEST_INVALID');
    });

    it('a manifest over 4 MiB answers 413', async () => {
      const config = await blob('man/reject', '{"os":"big"}', 'application/vnd.oci.image.config.v1+json');
      const doc = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config,
        layers: [],
        annotations: { padding: 'x'.repeat(4 * 1024 * 1024) },
      });
      assert.ok(Buffer.byteLength(doc) > 4 * 1024 * 1024);
      expectError(await put('man/reject', 'huge', doc), 413, 'SIZE_INVALID');
      expectError(await http('GET', url('/v2/man/reject/manifests/huge')), 404, 'MANIFEST_UNKNOWN');
      // The connection and the node are fine afterwards.
      assert.equal((await http('GET', url('/v2/'))).status, 200);
    });

    it('a manifest of exactly 4 MiB is accepted', async () => {
      const config = await blob('man/reject', '{"os":"edge"}', 'application/vnd.oci.image.config.v1+json');
      const base = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [], annotations: { padding: '' } });
      const doc = base.replace('"padding":""', `"padding":"${'y'.repeat(4 * 1024 * 1024 - Buffer.byteLength(base))}"`);
      assert.equal(Buffer.byteLength(doc), 4 * 1024 * 1024);
      const res = await put('man/reject', 'edge', doc);
      assert.equal(res.status, 201, res.body.toString().slice(0, 200));
    });
  });

  describe('delete', () => {
    it('DELETE by tag removes the tag; the manifest stays reachable by digest', async () => {
      const { digest } = await pushImage(node.url, 'man/del', 'gone-tag');
      const res = await http('DELETE', url('/v2/man/del/manifests/gone-tag'));
      assert.equal(res.status, 202);
      expectError(await http('GET', url('/v2/man/del/manifests/gone-tag')), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await http('GET', url(`/v2/man/del/manifests/${digest}`))).status, 200);
      const tags = await http('GET', url('/v2/man/del/tags/list'));
      assert.ok(!tags.json<{ tags: string[] }>().tags.includes('gone-tag'));
    });

    it('DELETE by digest removes the manifest and every tag pointing at it', async () => {
      const { digest, manifest } = await pushImage(node.url, 'man/del', 't1');
      assert.equal((await put('man/del', 't2', manifest)).status, 201);
      const keep = await pushImage(node.url, 'man/del', 'keep');
      const res = await http('DELETE', url(`/v2/man/del/manifests/${digest}`));
      assert.equal(res.status, 202);
      for (const ref of [digest, 't1', 't2']) {
        expectError(await http('GET', url(`/v2/man/del/manifests/${ref}`)), 404, 'MANIFEST_UNKNOWN');
        assert.equal((await http('HEAD', url(`/v2/man/del/manifests/${ref}`))).status, 404);
      }
      const tags = (await http('GET', url('/v2/man/del/tags/list'))).json<{ tags: string[] }>().tags;
      assert.ok(!tags.includes('t1') && !tags.includes('t2'));
      assert.ok(tags.includes('keep'));
      assert.equal((await http('GET', url(`/v2/man/del/manifests/${keep.digest}`))).status, 200);
    });

    it('an unknown manifest answers 404 MANIFEST_UNKNOWN (GET, HEAD, DELETE)', async () => {
      await pushImage(node.url, 'man/unknown', 'exists');
      const d = sha256('no such manifest');
      for (const ref of ['nope', d]) {
        expectError(await http('GET', url(`/v2/man/unknown/manifests/${ref}`)), 404, 'MANIFEST_UNKNOWN');
        assert.equal((await http('HEAD', url(`/v2/man/unknown/manifests/${ref}`))).status, 404);
        expectError(await http('DELETE', url(`/v2/man/unknown/manifests/${ref}`)), 404, 'MANIFEST_UNKNOWN');
      }
      // In a repository that does not exist at all.
      expectError(await http('GET', url('/v2/man/never/manifests/latest')), 404, 'MANIFEST_UNKNOWN');
    });
  });
});
