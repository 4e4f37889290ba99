import assert from 'node:assert/strict';
import type { Res } from 'georeg/test-support';

// The HTTP client, digests and pushes are shared with the other areas' tests and e2e.
export { http, pushBlob, pushImage, sha256, type PushedImage, type ReqOptions, type Res } from 'georeg/test-support';

export interface OciErrorEntry {
  code: string;
  message: string;
  detail: unknown;
}

/** The entries of an OCI error body `{"errors":[{code,message,detail}]}`; fails when the body is not one. */
export function ociErrors(res: Res): OciErrorEntry[] {
  assert.match(res.header('content-type') ?? '', /^application\/json/, 'error body must be JSON');
  const body = res.json<{ errors?: unknown }>();
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `not an OCI error body: ${res.body.toString()}`);
  for (const e of body.errors as OciErrorEntry[]) {
    assert.equal(typeof e.code, 'string');
    assert.equal(typeof e.message, 'string');
    assert.ok('detail' in e, 'error entry has a detail field');
  }
  return body.errors as OciErrorEntry[];
}

/** Assert an OCI error response: its status and (when the response has a body) its first error code. */
export function expectError(res: Res, status: number, code: string): OciErrorEntry | undefined {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.body.toString().slice(0, 300)}`);
  if (res.body.length === 0) return undefined; // HEAD
  const [first] = ociErrors(res);
  assert.equal(first?.code, code, `expected code ${code}: ${res.body.toString().slice(0, 300)}`);
  return first;
}

/** The target of a `Link: <...>; rel="next"` header, or undefined when there is none. */
export function nextLink(res: Res): string | undefined {
  const link = res.header('link');
  if (link === undefined) return undefined;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1];
}
