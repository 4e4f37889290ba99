import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, pushBlob, sha256 } from '../support/client.js';

describe('http: blobs', () => {
  let node: TestNode;
  let url: (path: string) => string;
  const data = Buffer.from('0123456789abcdefghij'); // 20 bytes
  let digest: string;

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
    digest = await pushBlob(node.url, 'blobs/a', data);
  });
  after(async () => {
    await node.close();
  });

  function expectBlobHeaders(res: Awaited<ReturnType<typeof http>>, length: number): void {
    assert.equal(res.header('content-length'), String(length));
    assert.equal(res.header('docker-content-digest'), digest);
    assert.equal(res.header('etag'), `"${digest}"`);
    assert.equal(res.header('accept-ranges'), 'bytes');
  }

  describe('HEAD and GET', () => {
    it('HEAD answers 200 with the blob headers and no body', async () => {
      const res = await http('HEAD', url(`/v2/blobs/a/blobs/${digest}`));
      assert.equal(res.status, 200);
      expectBlobHeaders(res, data.length);
      assert.equal(res.body.length, 0);
    });

    it('GET answers 200 with exactly the pushed bytes', async () => {
      const res = await http('GET', url(`/v2/blobs/a/blobs/${digest}`));
      assert.equal(res.status, 200);
      expectBlobHeaders(res, data.length);
      assert.deepEqual(res.body, data);
    });

    it('GET with If-None-Match of the ETag answers 304', async () => {
      const res = await http('GET', url(`/v2/blobs/a/blobs/${digest}`), { headers: { 'If-None-Match': `"${digest}"` } });
      assert.equal(res.status, 304);
      assert.equal(res.body.length, 0);
    });

    it('an unknown digest is 404 BLOB_UNKNOWN (GET and HEAD)', async () => {
      const unknown = sha256('never pushed');
      expectError(await http('GET', url(`/v2/blobs/a/blobs/${unknown}`)), 404, 'BLOB_UNKNOWN');
      const head = await http('HEAD', url(`/v2/blobs/a/blobs/${unknown}`));
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0);
    });
  });

  it('keeps serving when clients hang up in the middle of large downloads', async () => {
    const big = randomBytes(8 * 1024 * 1024);
    const bigDigest = await pushBlob(node.url, 'blobs/big', big);
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve) => {
        const req = request(url(`/v2/blobs/big/blobs/${bigDigest}`), (res) => {
          const stopAt = (i % 8) * 1024 * 1024 + 1;
          let got = 0;
          res.on('data', (c: Buffer) => {
            got += c.length;
            if (got >= stopAt) req.destroy();
          });
          res.on('close', resolve);
        });
        req.on('error', () => resolve());
        req.end();
      });
    }
    const res = await http('GET', url(`/v2/blobs/big/blobs/${bigDigest}`));
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), bigDigest);
  });

  describe('ranges', () => {
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=5-', 5, 19],
      ['bytes=-3', 17, 19],
      ['bytes=2-6', 2, 6],
      ['bytes=15-100', 15, 19], // end clamps to the last byte
      ['bytes=-100', 0, 19], // suffix longer than the blob: the whole blob
    ];
    for (const [range, start, end] of cases) {
      it(`${range} answers 206 with bytes ${start}-${end}`, async () => {
        const res = await http('GET', url(`/v2/blobs/a/blobs/${digest}`), { headers: { Range: range } });
        assert.equal(res.status, 206);
        assert.equal(res.header('content-range'), `bytes ${start}-${end}/${data.length}`);
        assert.equal(res.header('content-length'), String(end - start + 1));
        assert.equal(res.header('docker-content-digest'), digest);
        assert.deepEqual(res.body, data.subarray(start, end + 1));
      });
    }

    it('HEAD with a range answers 206 with Content-Range and no body', async () => {
      const res = await http('HEAD', url(`/v2/blobs/a/blobs/${digest}`), { headers: { Range: 'bytes=5-' } });
      assert.equal(res.status, 206);
      assert.equal(res.header('content-range'), `bytes 5-19/${data.length}`);
      assert.equal(res.header('content-length'), '15');
      assert.equal(res.body.length, 0);
    });

    for (const range of ['bytes=20-', 'bytes=100-200', 'bytes=-0', 'bytes=7-3', 'bytes=0-1,4-5', 'pages=0-1']) {
      it(`unsatisfiable or unsupported ${range} answers 416 with Content-Range: bytes */size`, async () => {
        const res = await http('GET', url(`/v2/blobs/a/blobs/${digest}`), { headers: { Range: range } });
        expectError(res, 416, 'RANGE_INVALID');
        assert.equal(res.header('content-range'), `bytes */${data.length}`);
      });
    }
  });

  describe('repository isolation and mounting', () => {
    let only: string;
    before(async () => {
      only = await pushBlob(node.url, 'iso/a', 'content only repo iso/a has');
    });

    it('a blob pushed to repo A is BLOB_UNKNOWN in repo B (GET and HEAD)', async () => {
      expectError(await http('GET', url(`/v2/iso/b/blobs/${only}`)), 404, 'BLOB_UNKNOWN');
      const head = await http('HEAD', url(`/v2/iso/b/blobs/${only}`));
      assert.equal(head.status, 404);
      assert.equal(head.header('docker-content-digest'), undefined);
      // Range requests must not leak it either.
      expectError(await http('GET', url(`/v2/iso/b/blobs/${only}`), { headers: { Range: 'bytes=0-0' } }), 404, 'BLOB_UNKNOWN');
    });

    it('mount from A into B answers 201 and makes the blob readable in B', async () => {
      const res = await http('POST', url(`/v2/iso/b/blobs/uploads/?mount=${only}&from=iso/a`));
      assert.equal(res.status, 201);
      assert.equal(res.header('location'), `/v2/iso/b/blobs/${only}`);
      assert.equal(res.header('docker-content-digest'), only);
      const get = await http('GET', url(`/v2/iso/b/blobs/${only}`));
      assert.equal(get.status, 200);
      assert.equal(get.body.toString(), 'content only repo iso/a has');
    });

    it('mount from a repository without a link falls back to a 202 upload session', async () => {
      const res = await http('POST', url(`/v2/iso/c/blobs/uploads/?mount=${only}&from=iso/nothing-here`));
      assert.equal(res.status, 202);
      const location = res.header('location') ?? '';
      assert.match(location, /^\/v2\/iso\/c\/blobs\/uploads\/[A-Za-z0-9_-]+$/);
      assert.ok(res.header('docker-upload-uuid'));
      // The blob did not leak into iso/c.
      expectError(await http('GET', url(`/v2/iso/c/blobs/${only}`)), 404, 'BLOB_UNKNOWN');
      // The session is usable.
      const put = await http('PUT', url(`${location}?digest=${only}`), { body: 'content only repo iso/a has' });
      assert.equal(put.status, 201);
    });

    it('mount of a digest that exists nowhere falls back to 202', async () => {
      const res = await http('POST', url(`/v2/iso/d/blobs/uploads/?mount=${sha256('nowhere')}&from=iso/a`));
      assert.equal(res.status, 202);
      assert.ok(res.header('docker-upload-uuid'));
    });
  });

  describe('DELETE', () => {
    it('DELETE answers 202, then the blob is BLOB_UNKNOWN', async () => {
      const d = await pushBlob(node.url, 'del/a', 'to be deleted');
      const res = await http('DELETE', url(`/v2/del/a/blobs/${d}`));
      assert.equal(res.status, 202);
      expectError(await http('GET', url(`/v2/del/a/blobs/${d}`)), 404, 'BLOB_UNKNOWN');
      assert.equal((await http('HEAD', url(`/v2/del/a/blobs/${d}`))).status, 404);
      expectError(await http('DELETE', url(`/v2/del/a/blobs/${d}`)), 404, 'BLOB_UNKNOWN');
    });

    it('deleting the link in one repository leaves other repositories untouched', async () => {
      const d = await pushBlob(node.url, 'del/b', 'shared bytes');
      await pushBlob(node.url, 'del/c', 'shared bytes');
      assert.equal((await http('DELETE', url(`/v2/del/b/blobs/${d}`))).status, 202);
      const res = await http('GET', url(`/v2/del/c/blobs/${d}`));
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'shared bytes');
    });
  });
});
