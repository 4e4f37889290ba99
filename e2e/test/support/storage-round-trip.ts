/**
 * A node's storage driver seen from a real client: the small test image pushed with skopeo and
 * pulled back byte for byte (the Azure and S3 e2e tests), and how the node answered blob GETs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from 'georeg/test-support';
import type { GeoregNode } from './process.js';
import { layoutBlob, layoutRef, type OciManifest, type Skopeo } from './skopeo.js';

export const SMALL = join(process.env['IMAGES'] ?? '/tmp/lab-images', 'small');

/** Push the small image as `repo:v1`, pull it back to the oci: layout `out`; the pulled manifest and blobs are the source's, byte for byte. */
export async function roundTrip(skopeo: Skopeo, n: GeoregNode, repo: string, out: string): Promise<OciManifest> {
  const ref = `docker://${n.hostPort}/${repo}:v1`;
  await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}:latest`, ref]);
  await skopeo.run(['copy', '--src-tls-verify=false', ref, `oci:${out}:pulled`]);
  const source = await layoutRef(SMALL, 'latest');
  assert.equal((await layoutRef(out, 'pulled')).digest, source.digest);
  const manifest = JSON.parse((await layoutBlob(SMALL, source.digest)).toString('utf8')) as OciManifest;
  for (const { digest } of [manifest.config, ...manifest.layers]) {
    const pulled = await layoutBlob(out, digest);
    assert.ok(pulled.equals(await layoutBlob(SMALL, digest)), `blob ${digest} pulled byte for byte`);
    assert.equal(sha256(pulled), digest);
  }
  await n.syncLog();
  return manifest;
}

/** The statuses the node answered GETs of the manifest's blobs (config and layers) with. */
export function blobGets(n: GeoregNode, manifest: OciManifest): number[] {
  const digests = [manifest.config, ...manifest.layers].map((d) => d.digest);
  return n
    .requests()
    .filter((r) => r['method'] === 'GET' && digests.some((d) => String(r['path']).endsWith(`/blobs/${d}`)))
    .map((r) => Number(r['status']));
}

/** Fails unless the offline test image is there. */
export function requireSmallImage(): void {
  if (!existsSync(join(SMALL, 'index.json'))) throw new Error(`test image ${SMALL} missing: run \`node scripts/ensure-tools.mjs\``);
}

/** After a test: the node's log tail when the test failed, then the node stopped, which must exit cleanly on SIGTERM. */
export async function stopAfter(test: Mocha.Runnable | undefined, node: GeoregNode | undefined): Promise<void> {
  if (test?.state === 'failed' && node) process.stderr.write(`\n${node.stderrTail()}\n`);
  const exit = await node?.stop();
  if (exit) assert.deepEqual(exit, { code: 0, signal: null }, 'the node exits cleanly on SIGTERM');
}
