import assert from 'node:assert/strict';
import { digestOf } from '../src/digest.js';
import { EMPTY_DESCRIPTOR } from '../src/descriptor.js';
import { isOciError } from '../src/errors.js';
import { parseManifest } from '../src/manifest.js';
import { MediaTypes } from '../src/media-types.js';

const json = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc));
const blob = (mediaType: string, content: string) => ({ mediaType, digest: digestOf(content), size: content.length });
const config = blob('application/vnd.oci.image.config.v1+json', '{"os":"linux"}');
const layer = blob('application/vnd.oci.image.layer.v1.tar+gzip', 'layer');
const foreign = {
  ...blob('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'elsewhere'),
  urls: ['https://example.com/layer'],
};

/** Asserts that the body is refused as MANIFEST_INVALID with a message matching `message`. */
function refused(body: Buffer, contentType: string | undefined, message: RegExp): void {
  assert.throws(
    () => parseManifest(body, contentType),
    (e: unknown) => isOciError(e, 'MANIFEST_INVALID') && message.test(e.message),
  );
}

describe('oci manifest walker', () => {
  it('walks an OCI image manifest: config, layers, blobs, artifactType from the config', () => {
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] }), MediaTypes.ociManifest);
    assert.deepEqual(m, {
      mediaType: MediaTypes.ociManifest,
      config,
      layers: [layer],
      blobs: [config, layer],
      children: [],
      artifactType: config.mediaType,
      caseVariantKeys: false,
    });
  });

  it('walks an OCI index into its children, keeping their platforms', () => {
    const child = { ...blob(MediaTypes.ociManifest, 'child'), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } };
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [child] }), undefined);
    assert.equal(m.mediaType, MediaTypes.ociIndex);
    assert.deepEqual(m.children, [child]);
    assert.deepEqual([m.blobs, m.layers, m.config], [[], [], undefined]);
  });

  it('walks Docker v2 schema 2 manifests and manifest lists (no artifactType)', () => {
    const image = { schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config, layers: [layer] };
    const m = parseManifest(json(image), MediaTypes.dockerManifest);
    assert.deepEqual(m.blobs, [config, layer]);
    assert.equal(m.artifactType, undefined);
    const list = { schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests: [blob(MediaTypes.dockerManifest, 'c')] };
    assert.equal(parseManifest(json(list), undefined).children.length, 1);
  });

  it('lists foreign layers among the layers but not among the blobs a registry must hold', () => {
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [foreign, layer] }), undefined);
    assert.deepEqual(m.layers, [foreign, layer]);
    assert.deepEqual(m.blobs, [config, layer]);
  });

  it('reads a subject, artifactType and annotations', () => {
    const subject = blob(MediaTypes.ociManifest, 'subject');
    const doc = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: MediaTypes.sigstoreBundle,
      config: EMPTY_DESCRIPTOR,
      layers: [],
      subject,
      annotations: { a: 'b' },
    };
    const m = parseManifest(json(doc), undefined);
    assert.deepEqual([m.subject, m.artifactType, m.annotations], [subject, MediaTypes.sigstoreBundle, { a: 'b' }]);
  });

  it('infers the type of a document without mediaType from the Content-Type, else from its shape', () => {
    assert.equal(
      parseManifest(json({ schemaVersion: 2, config, layers: [] }), MediaTypes.dockerManifest).mediaType,
      MediaTypes.dockerManifest,
    );
    assert.equal(parseManifest(json({ schemaVersion: 2, config }), 'application/json').mediaType, MediaTypes.ociManifest);
    assert.equal(parseManifest(json({ schemaVersion: 2, manifests: [] }), undefined).mediaType, MediaTypes.ociIndex);
  });

  it('flags keys that are fields in other letter case', () => {
    const doc = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [{ ...layer, MediaType: 'x/y' }] };
    assert.equal(parseManifest(json(doc), undefined).caseVariantKeys, true);
    assert.equal(parseManifest(json({ ...doc, layers: [layer], Layers: [] }), undefined).caseVariantKeys, true);
  });

  it('refuses bad bodies as MANIFEST_INVALID', () => {
    const image = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] };
    refused(Buffer.from('{not json'), undefined, /not valid JSON/);
    refused(json([image]), undefined, /must be a JSON object/);
    refused(json({ ...image, schemaVersion: 1 }), undefined, /schemaVersion/);
    refused(json(image), MediaTypes.ociIndex, /does not match Content-Type/);
    refused(json({ ...image, mediaType: 'application/vnd.example+json' }), undefined, /unsupported manifest media type/);
    refused(json({ schemaVersion: 2 }), undefined, /neither an image manifest nor an index/);
    refused(json({ ...image, layers: {} }), undefined, /layers must be an array/);
    refused(json({ ...image, mediaType: MediaTypes.dockerManifest, layers: undefined }), undefined, /layers must be an array/);
    refused(json({ ...image, layers: [{ ...layer, digest: 'sha256:abc' }] }), undefined, /layers\[0\]: invalid digest/);
    refused(json({ ...image, layers: [{ ...layer, size: -1 }] }), undefined, /layers\[0\]: invalid size/);
    refused(json({ ...image, config: { ...config, mediaType: 'nope' } }), undefined, /config: invalid mediaType/);
    refused(json({ ...image, annotations: { a: 1 } }), undefined, /annotations must be a map of strings/);
    refused(json({ ...image, subject: 'sha256:x' }), undefined, /subject: descriptor must be an object/);
  });
});
