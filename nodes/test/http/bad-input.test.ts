import assert from 'node:assert/strict';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { startTestNode, type TestNode } from '../support/harness.js';
import { collectGarbage } from '../../src/registry/gc.js';
import { silentLogger } from '../../src/log.js';
import { http, pushBlob, sha256, type Res } from '../support/client.js';

const HEX64 = 'a'.repeat(64);
const VALID = `sha256:${HEX64}`;

describe('http: bad input', () => {
  let node: TestNode;
  let host: string;
  let port: number;
  let blob: string;
  let upload: string;

  before(async () => {
    node = await startTestNode();
    const u = new URL(node.url);
    host = u.hostname;
    port = Number(u.port);
    blob = await pushBlob(node.url, 'bad/ok', 'a perfectly good blob');
    upload = (await http('POST', `${node.url}/v2/bad/ok/blobs/uploads/`)).header('location') ?? '';
  });
  after(async () => {
    await node.close();
  });

  /** A request with the path sent exactly as given (no URL normalisation of `..` or `//`). */
  function raw(
    method: string,
    path: string,
    opts: { headers?: Record<string, string | number>; body?: Buffer | string } = {},
  ): Promise<Res> {
    return http(method, `${node.url}${path}`, opts);
  }

  /** A 4xx (never a 5xx), with an OCI error body whose code is `code`, that leaks no server path. */
  function expectRejected(res: Res, status: number, code?: string): void {
    const text = res.body.toString();
    assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
    assert.ok(!text.includes(node.dir), `error leaks the data dir: ${text}`);
    assert.ok(!text.includes(tmpdir()), `error leaks a temp path: ${text}`);
    assert.ok(!/"code":"UNKNOWN"/.test(text), `internal error: ${text}`);
    if (res.body.length === 0) return; // HEAD
    const body = res.json<{ errors: { code: string; message: string }[] }>();
    assert.ok(Array.isArray(body.errors) && body.errors.length > 0, text);
    if (code !== undefined) assert.equal(body.errors[0]?.code, code, text);
  }

  describe('repository names', () => {
    const long = 'a'.repeat(256);
    const longComponents = Array.from({ length: 64 }, () => 'abc').join('/'); // 255 chars
    const bad = [
      'Upper',
      'UPPER/case',
      'repo/Mixed',
      '..',
      'a/..',
      'a/../../etc',
      '../../../../etc/passwd',
      'a/./b',
      'a//b',
      '/abs',
      'a-',
      '-a',
      'a_',
      'a..b',
      'a%2F..%2F..%2Fetc',
      '%2e%2e',
      'caf%C3%A9',
      'a%00b',
      'white space',
      long,
      `${longComponents}/x`,
      'x'.repeat(8000),
    ];
    const routes = [
      (n: string) => ['GET', `/v2/${n}/tags/list`],
      (n: string) => ['GET', `/v2/${n}/manifests/latest`],
      (n: string) => ['HEAD', `/v2/${n}/manifests/latest`],
      (n: string) => ['PUT', `/v2/${n}/manifests/latest`],
      (n: string) => ['DELETE', `/v2/${n}/manifests/${VALID}`],
      (n: string) => ['GET', `/v2/${n}/blobs/${VALID}`],
      (n: string) => ['DELETE', `/v2/${n}/blobs/${VALID}`],
      (n: string) => ['POST', `/v2/${n}/blobs/uploads/`],
      (n: string) => ['GET', `/v2/${n}/blobs/uploads/someid`],
      (n: string) => ['GET', `/v2/${n}/referrers/${VALID}`],
    ];
    for (const name of bad) {
      it(`rejects name ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)} on every route with 400 NAME_INVALID`, async () => {
        for (const route of routes) {
          const [method = 'GET', path = ''] = route(name.replace(/ /g, '%20'));
          const res = await raw(
            method,
            path,
            method === 'PUT' ? { body: '{}', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } } : {},
          );
          expectRejected(res, 400, method === 'HEAD' ? undefined : 'NAME_INVALID');
        }
      });
    }

    it('a 255-character name is valid (404 NAME_UNKNOWN, not 400)', async () => {
      assert.equal(longComponents.length, 255);
      expectRejected(await raw('GET', `/v2/${longComponents}/tags/list`), 404, 'NAME_UNKNOWN');
    });

    it('mount from an invalid repository name answers 400 NAME_INVALID', async () => {
      expectRejected(await raw('POST', `/v2/bad/ok/blobs/uploads/?mount=${blob}&from=../../etc`), 400, 'NAME_INVALID');
      expectRejected(await raw('POST', `/v2/bad/ok/blobs/uploads/?mount=${blob}&from=Bad/Name`), 400, 'NAME_INVALID');
    });
  });

  describe('digests', () => {
    const bad = [
      'sha256:xyz',
      'sha256:',
      ':abc',
      'sha256',
      'notadigest',
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'g'.repeat(64)}`,
      `md5:d41d8cd98f00b204e9800998ecf8427e`,
      `sha1:${'a'.repeat(40)}`,
      `sha512:${HEX64}`,
      `SHA256:${HEX64}`,
      `sha256:${'a'.repeat(300)}`,
      `sha256:..%2F..%2F${'a'.repeat(58)}`,
    ];
    for (const d of bad) {
      it(`rejects ${JSON.stringify(d.length > 50 ? `${d.slice(0, 30)}…` : d)} with 400 DIGEST_INVALID`, async () => {
        expectRejected(await raw('GET', `/v2/bad/ok/blobs/${d}`), 400, 'DIGEST_INVALID');
        expectRejected(await raw('HEAD', `/v2/bad/ok/blobs/${d}`), 400);
        expectRejected(await raw('DELETE', `/v2/bad/ok/blobs/${d}`), 400, 'DIGEST_INVALID');
        expectRejected(await raw('GET', `/v2/bad/ok/referrers/${d}`), 400, 'DIGEST_INVALID');
        expectRejected(await raw('POST', `/v2/bad/ok/blobs/uploads/?digest=${d}`, { body: 'x' }), 400, 'DIGEST_INVALID');
        expectRejected(await raw('POST', `/v2/bad/ok/blobs/uploads/?mount=${d}&from=bad/ok`), 400, 'DIGEST_INVALID');
        expectRejected(await raw('PUT', `${upload}?digest=${d}`), 400, 'DIGEST_INVALID');
        if (d.includes(':')) {
          // With a colon the reference is not a tag, so it must be a valid digest: a lookup of it names
          // nothing (404, as for any reference neither a tag nor a digest); a delete is refused as invalid.
          expectRejected(await raw('GET', `/v2/bad/ok/manifests/${d}`), 404, 'MANIFEST_UNKNOWN');
          expectRejected(await raw('DELETE', `/v2/bad/ok/manifests/${d}`), 400, 'DIGEST_INVALID');
        }
      });
    }

    it('a well-formed sha512 digest is accepted as a digest (404 BLOB_UNKNOWN, not 400)', async () => {
      expectRejected(await raw('GET', `/v2/bad/ok/blobs/sha512:${'a'.repeat(128)}`), 404, 'BLOB_UNKNOWN');
    });

    it('a traversal attempt in the digest position finds no route or no blob', async () => {
      for (const path of ['/v2/bad/ok/blobs/sha256:../../../etc/passwd', '/v2/bad/ok/blobs/../../../../etc/passwd']) {
        const res = await raw('GET', path);
        assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
        expectRejected(res, res.status);
      }
    });
  });

  describe('tags and references', () => {
    for (const tag of ['-lead', '.dot', 'a'.repeat(129), 'sp%20ace', 'semi;colon', 'x%2Fy']) {
      it(`PUT to tag ${JSON.stringify(tag.slice(0, 20))} answers 400 TAG_INVALID`, async () => {
        const res = await raw('PUT', `/v2/bad/ok/manifests/${tag}`, {
          body: '{}',
          headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        });
        expectRejected(res, 400, 'TAG_INVALID');
      });
    }

    // The OCI conformance suite GETs and HEADs `.INVALID_MANIFEST_NAME` and expects 404: a reference
    // that is neither a tag nor a digest names nothing that exists.
    for (const ref of ['.INVALID_MANIFEST_NAME', '-lead', 'a'.repeat(129), 'sp%20ace', 'sha256:zzz', `md5:${'a'.repeat(32)}`]) {
      it(`GET and HEAD of reference ${JSON.stringify(ref.slice(0, 24))} answer 404 MANIFEST_UNKNOWN with the reason`, async () => {
        const res = await raw('GET', `/v2/bad/ok/manifests/${ref}`);
        expectRejected(res, 404, 'MANIFEST_UNKNOWN');
        const detail = (JSON.parse(res.body.toString()) as { errors: { detail: { reason: string } }[] }).errors[0]?.detail;
        assert.match(detail?.reason ?? '', /invalid|unsupported/);
        assert.equal((await raw('HEAD', `/v2/bad/ok/manifests/${ref}`)).status, 404);
      });
    }

    it('deeply nested JSON as a manifest answers 400 MANIFEST_INVALID', async () => {
      const depth = 200_000;
      const body = '['.repeat(depth) + ']'.repeat(depth);
      expectRejected(
        await raw('PUT', '/v2/bad/ok/manifests/deep', { body, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } }),
        400,
        'MANIFEST_INVALID',
      );
    });

    it('a manifest of 20,000 unknown layers answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
      const layers = Array.from({ length: 20_000 }, (_, i) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(String(i)),
        size: 1,
      }));
      const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob, size: 21 };
      const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers });
      expectRejected(
        await raw('PUT', '/v2/bad/ok/manifests/many', { body, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } }),
        404,
        'MANIFEST_BLOB_UNKNOWN',
      );
    });

    it('a manifest with __proto__ keys is rejected or stored, never a 500', async () => {
      const body =
        '{"schemaVersion":2,"__proto__":{"polluted":true},"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"__proto__":"x"}}';
      const res = await raw('PUT', '/v2/bad/ok/manifests/proto', {
        body,
        headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
      });
      assert.ok(res.status === 201 || (res.status >= 400 && res.status < 500), `${res.status} ${res.body.toString()}`);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });

  describe('ranges', () => {
    for (const cr of ['abc', '5-2', '-5', '0-', 'bytes=0-', '0-1-2', '1e3-2e3', '0-99999999999999999999', ' ', '0x0-0x4']) {
      it(`PATCH with Content-Range ${JSON.stringify(cr)} answers 416 BLOB_UPLOAD_INVALID`, async () => {
        const res = await raw('PATCH', upload, { body: 'abcde', headers: { 'Content-Range': cr } });
        expectRejected(res, 416, 'BLOB_UPLOAD_INVALID');
      });
    }

    it('a rejected chunk leaves the upload empty', async () => {
      const res = await raw('GET', upload);
      assert.equal(res.status, 204);
      assert.equal(res.header('range'), '0-0');
      assert.equal(await node.registry.uploads.status('bad/ok', upload.split('/').pop() ?? ''), 0);
    });

    it('PUT with a malformed Content-Range answers 416', async () => {
      expectRejected(
        await raw('PUT', `${upload}?digest=${sha256('abc')}`, { body: 'abc', headers: { 'Content-Range': 'nope' } }),
        416,
        'BLOB_UPLOAD_INVALID',
      );
    });

    for (const r of ['bytes=abc', 'bytes=1-2-3', 'bytes=--1', 'items=0-1', 'bytes=99999999999999999999-']) {
      it(`GET blob with Range ${JSON.stringify(r)} answers 416`, async () => {
        const res = await raw('GET', `/v2/bad/ok/blobs/${blob}`, { headers: { Range: r } });
        expectRejected(res, 416, 'RANGE_INVALID');
      });
    }
  });

  describe('upload ids', () => {
    for (const id of ['..%2F..%2Fetc', '..', 'a.b', 'x'.repeat(65), '%00', 'id%20with%20space']) {
      it(`upload id ${JSON.stringify(id.slice(0, 20))} answers 404 BLOB_UPLOAD_UNKNOWN`, async () => {
        for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
          const query = method === 'PUT' ? `?digest=${VALID}` : '';
          const res = await raw(method, `/v2/bad/ok/blobs/uploads/${id}${query}`, method === 'PATCH' ? { body: 'x' } : {});
          expectRejected(res, 404, 'BLOB_UPLOAD_UNKNOWN');
        }
      });
    }

    it('two concurrent PATCHes to one upload: one wins, the other gets a 4xx', async () => {
      const loc = (await http('POST', `${node.url}/v2/bad/ok/blobs/uploads/`)).header('location') ?? '';
      const big = Buffer.alloc(4 * 1024 * 1024, 1);
      const results = await Promise.all([raw('PATCH', loc, { body: big }), raw('PATCH', loc, { body: big })]);
      for (const r of results) assert.ok(r.status === 202 || (r.status >= 400 && r.status < 500), `${r.status} ${r.body.toString()}`);
      assert.ok(results.some((r) => r.status === 202));
      for (const r of results.filter((x) => x.status !== 202)) expectRejected(r, r.status);
      const size = results.filter((r) => r.status === 202).length * big.length;
      assert.equal((await raw('GET', loc)).header('range'), `0-${size - 1}`);
    });
  });

  describe('pagination', () => {
    it('an over-long last answers 400', async () => {
      expectRejected(await raw('GET', `/v2/bad/ok/tags/list?last=${'a'.repeat(300)}`), 400, 'PAGINATION_NUMBER_INVALID');
      expectRejected(await raw('GET', `/v2/_catalog?last=${'a'.repeat(300)}`), 400, 'PAGINATION_NUMBER_INVALID');
    });

    it('a malformed query string does not break the server', async () => {
      for (const q of ['n=%zz', 'n=1&n=2', '%', '&&&', 'last=%E0%A4%A']) {
        const res = await raw('GET', `/v2/_catalog?${q}`);
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `${q}: ${res.status}`);
        if (res.status !== 200) expectRejected(res, res.status);
      }
    });
  });

  describe('routes and methods', () => {
    for (const path of [
      '/',
      '/v1/',
      '/v3/',
      '/v2/bad/ok',
      '/v2/bad/ok/',
      '/v2/bad/ok/unknown',
      '/v2/bad/ok/tags',
      '/v2/bad/ok/blobs/',
      '/v2/_catalog/x',
      '/georeg/v1/nope',
      '/favicon.ico',
    ]) {
      it(`GET ${path} answers 404`, async () => {
        expectRejected(await raw('GET', path), 404);
      });
    }

    const wrong: [string, string, string][] = [
      ['POST', '/v2/', 'GET, HEAD'],
      ['DELETE', '/v2/', 'GET, HEAD'],
      ['PATCH', '/v2/bad/ok/manifests/latest', 'GET, PUT, DELETE, HEAD'],
      ['POST', '/v2/bad/ok/manifests/latest', 'GET, PUT, DELETE, HEAD'],
      ['PUT', `/v2/bad/ok/blobs/${VALID}`, 'GET, DELETE, HEAD'],
      ['POST', `/v2/bad/ok/blobs/${VALID}`, 'GET, DELETE, HEAD'],
      ['GET', '/v2/bad/ok/blobs/uploads/', 'POST'],
      ['PUT', '/v2/bad/ok/blobs/uploads/', 'POST'],
      ['POST', '/v2/bad/ok/blobs/uploads/someid', 'GET, PATCH, PUT, DELETE, HEAD'],
      ['POST', '/v2/bad/ok/tags/list', 'GET, HEAD'],
      ['DELETE', '/v2/_catalog', 'GET, HEAD'],
      ['PUT', `/v2/bad/ok/referrers/${VALID}`, 'GET, HEAD'],
      ['OPTIONS', '/v2/', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of wrong) {
      it(`${method} ${path.replace(HEX64, '…')} answers 405 with Allow: ${allow}`, async () => {
        const res = await raw(method, path, { body: method === 'GET' || method === 'OPTIONS' ? undefined : 'x' });
        expectRejected(res, 405);
        assert.equal(res.header('allow'), allow);
      });
    }
  });

  describe('bodies', () => {
    it('a monolithic POST whose body is shorter than its digest answers 400 DIGEST_INVALID', async () => {
      expectRejected(
        await raw('POST', `/v2/bad/ok/blobs/uploads/?digest=${sha256('full content')}`, { body: 'full' }),
        400,
        'DIGEST_INVALID',
      );
      expectRejected(await raw('POST', `/v2/bad/ok/blobs/uploads/?digest=${sha256('full content')}`), 400, 'DIGEST_INVALID');
    });

    it('a chunked manifest over the limit answers 413', async () => {
      const res = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host,
            port,
            method: 'PUT',
            path: '/v2/bad/ok/manifests/chunked',
            headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
          },
          (r) => {
            r.resume();
            r.on('end', () => resolve(r.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        const piece = Buffer.alloc(512 * 1024, 0x20);
        for (let i = 0; i < 10; i++) req.write(piece);
        req.end();
      });
      assert.equal(res, 413);
    });
  });

  it('the node still answers /v2/ after all of it', async () => {
    const res = await http('GET', `${node.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
    const get = await http('GET', `${node.url}/v2/bad/ok/blobs/${blob}`);
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), 'a perfectly good blob');
  });

  it('leaves the store consistent: a gc dry run finds nothing broken and no half-written blob', async () => {
    const report = await collectGarbage(node.registry, { dryRun: true, graceMs: 0, uploadMaxAgeMs: 0 }, silentLogger);
    assert.deepEqual(report.broken, []);
    for await (const b of node.stores.blobs.list()) {
      assert.equal(sha256(await node.stores.blobs.readAll(b.digest)), b.digest, 'every stored blob matches its digest');
    }
  });
});
