import assert from 'node:assert/strict';
import { apiPaths, queryString } from 'georeg/oci';
import { http } from 'georeg/test-support';
import type { GeoregNode } from './process.js';

/**
 * A chunked upload of `chunks` into `repo`: begun (POST) on `nodes[0]`, chunk i sent (PATCH) to
 * `nodes[i % nodes.length]`, each answered 202 with the range so far. Resolves with the upload's
 * path (for its status GET and its PUT) and its size.
 */
export async function chunkedUpload(nodes: GeoregNode[], repo: string, chunks: Buffer[]): Promise<{ path: string; size: number }> {
  const first = nodes[0] as GeoregNode;
  const begun = await http('POST', `${first.url}${apiPaths.uploads(repo)}`);
  assert.equal(begun.status, 202, begun.body.toString());
  const location = new URL(begun.header('location') as string, first.url);
  const path = `${location.pathname}${location.search}`;
  let size = 0;
  for (const [i, chunk] of chunks.entries()) {
    const node = nodes[i % nodes.length] as GeoregNode;
    const res = await http('PATCH', `${node.url}${path}`, {
      body: chunk,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${size}-${size + chunk.length - 1}` },
    });
    assert.equal(res.status, 202, `chunk ${i} on ${node.name}: ${res.body.toString()}`);
    size += chunk.length;
    assert.equal(res.header('range'), `0-${size - 1}`, `chunk ${i} on ${node.name}`);
  }
  return { path, size };
}

/** Finish the upload at `path` on `node` with `digest` (PUT ?digest=): 201. */
export async function finishUpload(node: GeoregNode, path: string, digest: string): Promise<void> {
  const finished = await http('PUT', `${node.url}${path}${path.includes('?') ? '&' : '?'}${queryString({ digest }).slice(1)}`);
  assert.equal(finished.status, 201, finished.body.toString());
}
