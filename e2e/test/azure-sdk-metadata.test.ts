/**
 * ACR's metadata API (`/acr/v1`) through the real Azure SDK client, `ContainerRegistryClient`
 * (issue 20), against a black-box `georeg serve` over HTTPS with authentication on: repositories,
 * tags and manifests listed and paged (both time orders), their properties, locks (changeable
 * attributes) enforced for the SDK and for skopeo, deletes; a scoped credential, a pull-only one,
 * a bogus one, and an anonymous client (a child process: it trusts the CA only through
 * NODE_EXTRA_CA_CERTS).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerRegistryClient, ContainerRegistryContentClient, type ArtifactManifestOrder } from '@azure/container-registry';
import { ADMIN_PASSWORD, createToken, refreshTokenCredential, startSecureNode, type SecureNode } from './support/azure-sdk.js';
import { runNode as run } from './support/serve.js';
import { layoutRef, Skopeo, skopeoFails, type RunResult } from './support/skopeo.js';

const SMALL = '/tmp/lab-images/small'; // built by scripts/ensure-tools.mjs (linux/amd64)
const MULTI = '/tmp/lab-images/multi'; // an index of linux/amd64 and linux/arm64
const anonymousScript = join(dirname(fileURLToPath(import.meta.url)), 'support', 'azure-sdk-anonymous-metadata.js');

type SdkError = { statusCode?: number; code?: string; message?: string };
const statusOf = (e: unknown): number | undefined => (e as SdkError).statusCode;

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const i of items) out.push(i);
  return out;
}

/** Every page of size 1, joined. */
async function pagesOfOne<T>(pages: AsyncIterable<T[]>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let count = 0;
  for await (const page of pages) {
    count++;
    assert.ok(page.length <= 1, `a page of ${page.length}`);
    items.push(...page);
  }
  return { items, pages: count };
}

describe('Azure SDK ContainerRegistryClient: the /acr/v1 metadata API and locks (e2e, black box)', function () {
  this.timeout(120_000);
  let tmp: string;
  let secure: SecureNode;
  let skopeo: Skopeo;
  let client: ContainerRegistryClient;
  let host: string;
  let smallDigest: string;
  let multiDigest: string;
  const options = (): { tlsOptions: { ca: string }; retryOptions: { maxRetries: number } } => ({
    tlsOptions: { ca: secure.ca },
    retryOptions: { maxRetries: 0 },
  });
  const push = (layout: string, ref: string, all = false): Promise<RunResult> =>
    skopeo.run([
      'copy',
      ...(all ? ['--all'] : []),
      '--dest-tls-verify=false',
      '--dest-creds',
      `admin:${ADMIN_PASSWORD}`,
      `oci:${layout}:latest`,
      `docker://${host}/${ref}`,
    ]);
  const skopeoAdmin = (args: string[]): Promise<RunResult> =>
    skopeo.run([args[0] as string, '--tls-verify=false', '--creds', `admin:${ADMIN_PASSWORD}`, ...args.slice(1)]);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-acr-'));
    secure = await startSecureNode(tmp);
    host = `localhost:${secure.port}`;
    skopeo = await Skopeo.create(join(tmp, 'skopeo'));
    const secret = await createToken(secure, 'acr-ci', [
      { repositories: ['acme/**', 'public/**'], actions: ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'] },
    ]);
    client = new ContainerRegistryClient(secure.endpoint, refreshTokenCredential(secure, 'acr-ci', secret), options());
    smallDigest = (await layoutRef(SMALL, 'latest')).digest;
    multiDigest = (await layoutRef(MULTI, 'latest')).digest;
    await push(SMALL, 'acme/app:v1');
    await push(MULTI, 'acme/app:multi', true);
    await push(SMALL, 'acme/nested/deep/app:v1');
    await push(SMALL, 'public/base:v1');
  });

  after(async function () {
    this.timeout(30_000);
    await secure?.node.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('lists repositories, nested names included; pages of one join to the same list', async () => {
    const names = await all(client.listRepositoryNames());
    assert.deepEqual(names, ['acme/app', 'acme/nested/deep/app', 'public/base']);
    const paged = await pagesOfOne(client.listRepositoryNames().byPage({ maxPageSize: 1 }));
    assert.deepEqual(paged.items, names);
    assert.ok(paged.pages >= 3);
  });

  it('shows repository properties; the counts and the last update move with a push', async () => {
    const repo = client.getRepository('acme/app');
    const before = await repo.getProperties();
    assert.equal(before.name, 'acme/app');
    assert.equal(before.registryLoginServer, host);
    assert.equal(before.tagCount, 2);
    assert.equal(before.manifestCount, 4, 'small, the index and its two platform manifests');
    assert.ok(before.createdOn <= before.lastUpdatedOn);
    assert.deepEqual([before.canDelete, before.canWrite, before.canRead, before.canList], [true, true, true, true]);
    await push(SMALL, 'acme/app:v2');
    const after = await repo.getProperties();
    assert.equal(after.tagCount, 3);
    assert.equal(after.manifestCount, 4);
    assert.ok(
      after.lastUpdatedOn > before.lastUpdatedOn,
      `${after.lastUpdatedOn.toISOString()} after ${before.lastUpdatedOn.toISOString()}`,
    );
    assert.equal(after.createdOn.getTime(), before.createdOn.getTime());
    assert.equal((await client.getRepository('acme/nested/deep/app').getProperties()).tagCount, 1);
  });

  it("shows manifest properties: size, architecture and os from the config, and an index's platforms", async () => {
    const image = await client.getArtifact('acme/app', 'v1').getManifestProperties();
    assert.equal(image.digest, smallDigest);
    assert.equal(image.architecture, 'amd64');
    assert.equal(image.operatingSystem, 'linux');
    assert.ok((image.sizeInBytes ?? 0) > 3_000_000, `imageSize ${image.sizeInBytes}: config and layers`);
    assert.deepEqual(image.tags.sort(), ['v1', 'v2']);
    const index = await client.getArtifact('acme/app', 'multi').getManifestProperties();
    assert.equal(index.digest, multiDigest);
    assert.deepEqual(index.relatedArtifacts.map((r) => `${r.operatingSystem}/${r.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
    const byDigest = await client.getArtifact('acme/app', multiDigest).getManifestProperties();
    assert.deepEqual(byDigest.tags, ['multi']);
  });

  it('lists manifests in both time orders; pages of one join to the same order', async () => {
    const repo = client.getRepository('acme/app');
    for (const order of ['LastUpdatedOnDescending', 'LastUpdatedOnAscending'] as ArtifactManifestOrder[]) {
      const listed = await all(repo.listManifestProperties({ order }));
      assert.equal(listed.length, 4);
      const times = listed.map((m) => m.lastUpdatedOn.getTime());
      const sorted = [...times].sort((a, b) => (order === 'LastUpdatedOnAscending' ? a - b : b - a));
      assert.deepEqual(times, sorted, order);
      const paged = await pagesOfOne(repo.listManifestProperties({ order }).byPage({ maxPageSize: 1 }));
      assert.deepEqual(
        paged.items.map((m) => m.digest),
        listed.map((m) => m.digest),
        `${order}, paged`,
      );
    }
  });

  it("lists tags by name, and by time both ways with paging (the SDK lists a repository's tags from any of its artifacts)", async () => {
    const artifact = client.getArtifact('acme/app', 'v1');
    const names = async (it: AsyncIterable<{ name: string }>): Promise<string[]> => (await all(it)).map((t) => t.name);
    assert.deepEqual(await names(artifact.listTagProperties()), ['multi', 'v1', 'v2']);
    assert.deepEqual(await names(artifact.listTagProperties({ order: 'LastUpdatedOnDescending' })), ['v2', 'multi', 'v1']);
    const paged = await pagesOfOne(artifact.listTagProperties({ order: 'LastUpdatedOnAscending' }).byPage({ maxPageSize: 1 }));
    assert.deepEqual(
      paged.items.map((t) => t.name),
      ['v1', 'multi', 'v2'],
    );
    const v1 = await client.getArtifact('acme/app', 'v1').getTagProperties('v1');
    assert.equal(v1.digest, smallDigest);
    assert.equal(v1.repositoryName, 'acme/app');
    assert.ok(v1.createdOn.getTime() <= v1.lastUpdatedOn.getTime());
  });

  it('a tag locked against writes refuses pushes (skopeo and the SDK) and keeps its image; unlocked, it moves', async () => {
    const artifact = client.getArtifact('acme/app', 'v1');
    const locked = await artifact.updateTagProperties('v1', { canWrite: false });
    assert.equal(locked.canWrite, false);
    assert.equal(locked.canDelete, true, 'a PATCH changes only what it names');
    const refused = await skopeoFails(() => push(MULTI, 'acme/app:v1', true), 'a push to a write-locked tag');
    assert.match(refused.message, /locked|423/i);
    const content = new ContainerRegistryContentClient(
      secure.endpoint,
      'acme/app',
      refreshTokenCredential(secure, 'admin', ADMIN_PASSWORD),
      options(),
    );
    const index = await content.getManifest(multiDigest);
    await assert.rejects(content.setManifest(index.content, { tag: 'v1', mediaType: index.mediaType }), (e) => statusOf(e) === 423);
    assert.equal((await artifact.getTagProperties('v1')).digest, smallDigest, 'the tag did not move');
    await artifact.updateTagProperties('v1', { canWrite: true });
    await push(MULTI, 'acme/app:v1', true);
    assert.equal((await client.getArtifact('acme/app', 'v1').getTagProperties('v1')).digest, multiDigest);
    await push(SMALL, 'acme/app:v1');
  });

  it('a repository locked against writes refuses every push into it, of a new tag too', async () => {
    const repo = client.getRepository('acme/nested/deep/app');
    assert.equal((await repo.updateProperties({ canWrite: false })).canWrite, false);
    await skopeoFails(() => push(SMALL, 'acme/nested/deep/app:new'), 'a push into a write-locked repository');
    assert.deepEqual(
      (await all(client.getArtifact('acme/nested/deep/app', 'v1').listTagProperties())).map((t) => t.name),
      ['v1'],
    );
    await repo.updateProperties({ canWrite: true });
    await push(SMALL, 'acme/nested/deep/app:new');
  });

  it('a tag locked against deletes survives the SDK and skopeo delete, and its manifest stays', async () => {
    const artifact = client.getArtifact('acme/app', 'v2');
    await artifact.updateTagProperties('v2', { canDelete: false });
    await assert.rejects(artifact.deleteTag('v2'), (e) => statusOf(e) === 423);
    await skopeoFails(() => skopeoAdmin(['delete', `docker://${host}/acme/app:v2`]), 'skopeo delete of a delete-locked tag');
    await assert.rejects(client.getArtifact('acme/app', smallDigest).delete(), (e) => statusOf(e) === 423, 'nor its manifest');
    await assert.rejects(client.deleteRepository('acme/app'), (e) => statusOf(e) === 423, 'nor its repository');
    assert.equal((await artifact.getTagProperties('v2')).digest, smallDigest);
    await artifact.updateTagProperties('v2', { canDelete: true });
  });

  it('a manifest locked against reads refuses pulls; against listing, it leaves the listing', async () => {
    const artifact = client.getArtifact('acme/app', multiDigest);
    await artifact.updateManifestProperties({ canRead: false, canList: false });
    const refused = await skopeoFails(
      () => skopeoAdmin(['inspect', '--raw', `docker://${host}/acme/app@${multiDigest}`]),
      'a pull of a read-locked manifest',
    );
    assert.match(refused.message, /locked|423/i);
    const content = new ContainerRegistryContentClient(
      secure.endpoint,
      'acme/app',
      refreshTokenCredential(secure, 'admin', ADMIN_PASSWORD),
      options(),
    );
    await assert.rejects(content.getManifest(multiDigest), (e) => statusOf(e) === 423, 'nor through the SDK');
    const listed = await all(client.getRepository('acme/app').listManifestProperties());
    assert.ok(!listed.some((m) => m.digest === multiDigest), 'hidden from the listing');
    const props = await artifact.getManifestProperties();
    assert.deepEqual([props.canRead, props.canList, props.canWrite], [false, false, true]);
    await artifact.updateManifestProperties({ canRead: true, canList: true });
    await skopeoAdmin(['inspect', '--raw', `docker://${host}/acme/app@${multiDigest}`]);
  });

  it("a tag locked against listing leaves the tag lists (the SDK's and /v2 tags/list)", async () => {
    await client.getArtifact('acme/app', 'multi').updateTagProperties('multi', { canList: false });
    const repoTags = await all(client.getArtifact('acme/app', 'v1').listTagProperties());
    assert.deepEqual(
      repoTags.map((t) => t.name),
      ['v1', 'v2'],
    );
    const v2 = JSON.parse((await skopeoAdmin(['list-tags', `docker://${host}/acme/app`])).stdout) as { Tags: string[] };
    assert.deepEqual(v2.Tags.sort(), ['v1', 'v2']);
    await client.getArtifact('acme/app', 'multi').updateTagProperties('multi', { canList: true });
  });

  it('a pull-only credential reads properties, and is refused writes and deletes with nothing changed', async () => {
    const secret = await createToken(secure, 'acr-readonly', [{ repositories: ['acme/**'], actions: ['pull', 'metadata_read'] }]);
    const ro = new ContainerRegistryClient(secure.endpoint, refreshTokenCredential(secure, 'acr-readonly', secret), options());
    assert.equal((await ro.getRepository('acme/app').getProperties()).tagCount, 3);
    const refused = (e: unknown): boolean => statusOf(e) === 401 || statusOf(e) === 403;
    await assert.rejects(ro.getRepository('acme/app').updateProperties({ canWrite: false }), refused);
    await assert.rejects(ro.getArtifact('acme/app', 'v1').deleteTag('v1'), refused);
    await assert.rejects(ro.deleteRepository('acme/app'), refused);
    const props = await client.getRepository('acme/app').getProperties();
    assert.deepEqual([props.tagCount, props.canWrite], [3, true], 'nothing changed');
  });

  it('a bogus credential gets 401 on every call', async () => {
    const bogus = new ContainerRegistryClient(secure.endpoint, refreshTokenCredential(secure, 'acr-ci', 'not the secret'), options());
    const calls: (() => Promise<unknown>)[] = [
      () => all(bogus.listRepositoryNames()),
      () => bogus.getRepository('acme/app').getProperties(),
      () => bogus.getArtifact('acme/app', 'v1').getTagProperties('v1'),
      () => all(bogus.getRepository('acme/app').listManifestProperties()),
      () => bogus.deleteRepository('acme/app'),
    ];
    for (const call of calls) await assert.rejects(call(), (e) => /401|refresh token/.test(`${statusOf(e)} ${(e as SdkError).message}`));
  });

  it('an anonymous client reads tag and manifest properties of an anonymous-pull repository, never the catalog', async () => {
    const child = await run([anonymousScript, secure.endpoint, 'public/base', 'v1'], { NODE_EXTRA_CA_CERTS: secure.caFile });
    assert.equal(child.code, 0, child.stderr);
    const out = JSON.parse(child.stdout.trim().split('\n').pop() as string) as {
      tagDigest: string;
      architecture: string;
      catalog: number | undefined;
    };
    assert.deepEqual(out, { tagDigest: smallDigest, architecture: 'amd64', catalog: 401 });
  });

  it('deletes a tag, a manifest and repositories (a second delete is no error)', async () => {
    await client.getArtifact('acme/app', 'v2').deleteTag('v2');
    await assert.rejects(client.getArtifact('acme/app', 'v2').getTagProperties('v2'), (e) => statusOf(e) === 404);
    await client.getArtifact('acme/app', 'v2').deleteTag('v2');
    await client.getArtifact('acme/app', multiDigest).delete();
    await assert.rejects(client.getArtifact('acme/app', multiDigest).getManifestProperties(), (e) => statusOf(e) === 404);
    await client.deleteRepository('acme/nested/deep/app');
    await client.deleteRepository('acme/nested/deep/app');
    assert.deepEqual(await all(client.listRepositoryNames()), ['acme/app', 'public/base']);
    await skopeoFails(
      () => skopeoAdmin(['inspect', '--raw', `docker://${host}/acme/nested/deep/app:v1`]),
      'a pull from a deleted repository',
    );
  });
});
