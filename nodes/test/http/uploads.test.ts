import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, sha256, type Res } from '../support/client.js';

/**
 * Where the next chunk goes, from an upload's `Range: 0-N` header. `0-0` is what an
 * empty upload reports (as Distribution does); it is read as offset 0.
 */
function nextOffset(res: Res): number {
  const m = /^0-(\d+)$/.exec(res.header('range') ?? '');
  assert.ok(m, `bad Range header ${res.header('range')}`);
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

describe('http: blob uploads', () => {
  let node: TestNode;
  let url: (path: string) => string;

  before(async () => {
    node = await startTestNode();
    url = (path) => `${node.url}${path}`;
  });
  after(async () => {
    await node.close();
  });

  /** Start an upload session; returns its relative Location. */
  async function start(repo: string): Promise<string> {
    const res = await http('POST', url(`/v2/${repo}/blobs/uploads/`));
    assert.equal(res.status, 202, res.body.toString());
    return res.header('location') ?? '';
  }

  function patch(location: string, body: Buffer | string, contentRange?: string): Promise<Res> {
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream' };
    if (contentRange !== undefined) headers['Content-Range'] = contentRange;
    return http('PATCH', url(location), { body, headers });
  }

  /** Send `body` with chunked transfer encoding (no Content-Length); resolves the status code. */
  function chunked(location: string, body: string, contentRange?: string, method = 'PATCH'): Promise<number> {
    return new Promise((resolve, reject) => {
      const headers = contentRange === undefined ? {} : { 'Content-Range': contentRange };
      const req = request(url(location), { method, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 1)); // a first write before end() makes Node send it chunked
      req.end(body.slice(1));
    });
  }

  async function expectBlob(repo: string, digest: string, data: Buffer | string): Promise<void> {
    const res = await http('GET', url(`/v2/${repo}/blobs/${digest}`));
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(res.body, Buffer.from(data));
  }

  it('POST answers 202 with a relative Location and Docker-Upload-UUID', async () => {
    const res = await http('POST', url('/v2/up/start/blobs/uploads/'));
    assert.equal(res.status, 202);
    const location = res.header('location') ?? '';
    const uuid = res.header('docker-upload-uuid') ?? '';
    assert.match(uuid, /^[A-Za-z0-9_-]+$/);
    assert.equal(location, `/v2/up/start/blobs/uploads/${uuid}`);
    assert.equal(res.header('range'), '0-0');
  });

  it('monolithic POST ?digest= with a body answers 201', async () => {
    const data = 'monolithic blob';
    const digest = sha256(data);
    const res = await http('POST', url(`/v2/up/mono/blobs/uploads/?digest=${digest}`), {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.header('location'), `/v2/up/mono/blobs/${digest}`);
    assert.equal(res.header('docker-content-digest'), digest);
    await expectBlob('up/mono', digest, data);
  });

  it('monolithic POST with a wrong digest answers 400 DIGEST_INVALID and stores nothing', async () => {
    const wrong = sha256('something else');
    const res = await http('POST', url(`/v2/up/mono/blobs/uploads/?digest=${wrong}`), { body: 'actual body' });
    expectError(res, 400, 'DIGEST_INVALID');
    expectError(await http('GET', url(`/v2/up/mono/blobs/${wrong}`)), 404, 'BLOB_UNKNOWN');
    expectError(await http('GET', url(`/v2/up/mono/blobs/${sha256('actual body')}`)), 404, 'BLOB_UNKNOWN');
  });

  it('chunked PATCHes with Content-Range in order, status, then PUT ?digest= without a body', async () => {
    const location = await start('up/chunked');
    const data = Buffer.from('first-chunk|second-chunk|third');
    const parts = [data.subarray(0, 12), data.subarray(12, 25), data.subarray(25)];
    let offset = 0;
    for (const part of parts) {
      const res = await patch(location, part, `${offset}-${offset + part.length - 1}`);
      assert.equal(res.status, 202, res.body.toString());
      offset += part.length;
      assert.equal(res.header('range'), `0-${offset - 1}`);
      assert.equal(res.header('location'), location);
      assert.ok(res.header('docker-upload-uuid'));
    }
    const status = await http('GET', url(location));
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), `0-${data.length - 1}`);
    assert.equal(status.header('location'), location);
    const digest = sha256(data);
    const put = await http('PUT', url(`${location}?digest=${digest}`));
    assert.equal(put.status, 201);
    assert.equal(put.header('location'), `/v2/up/chunked/blobs/${digest}`);
    assert.equal(put.header('docker-content-digest'), digest);
    await expectBlob('up/chunked', digest, data);
    // The session is gone once committed.
    expectError(await http('GET', url(location)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('Content-Range with a "bytes " prefix and a total is accepted', async () => {
    const location = await start('up/chunked');
    const res = await patch(location, 'abcde', 'bytes 0-4/*');
    assert.equal(res.status, 202);
    assert.equal(res.header('range'), '0-4');
  });

  it('PATCH with a wrong start answers 416 BLOB_UPLOAD_INVALID and keeps the upload intact', async () => {
    const location = await start('up/range');
    assert.equal((await patch(location, 'hello', '0-4')).status, 202);
    expectError(await patch(location, 'world', '3-7'), 416, 'BLOB_UPLOAD_INVALID'); // overlaps
    expectError(await patch(location, 'world', '6-10'), 416, 'BLOB_UPLOAD_INVALID'); // leaves a gap
    expectError(await patch(location, 'world', '0-4'), 416, 'BLOB_UPLOAD_INVALID'); // replays the first chunk
    const status = await http('GET', url(location));
    assert.equal(status.header('range'), '0-4');
    assert.equal((await patch(location, 'world', '5-9')).status, 202);
    const digest = sha256('helloworld');
    assert.equal((await http('PUT', url(`${location}?digest=${digest}`))).status, 201);
    await expectBlob('up/range', digest, 'helloworld');
  });

  it('PATCH whose Content-Range disagrees with Content-Length answers 416', async () => {
    const location = await start('up/range');
    expectError(await patch(location, 'abc', '0-9'), 416, 'BLOB_UPLOAD_INVALID');
    assert.equal((await http('GET', url(location))).header('range'), '0-0');
  });

  it('a chunked PATCH or PUT (no Content-Length) whose body is longer or shorter than its Content-Range answers 416', async () => {
    const location = await start('up/range');
    assert.equal(await chunked(location, 'abcdefghij', '0-3'), 416);
    // The bytes came in order from offset 0, so they stay; the upload goes on from where it is.
    assert.equal((await http('GET', url(location))).header('range'), '0-9');
    assert.equal(await chunked(location, 'kl', '10-19'), 416);
    assert.equal((await http('GET', url(location))).header('range'), '0-11');
    assert.equal(await chunked(location, 'mn', '12-13'), 202);
    // The last chunk with PUT is checked the same way.
    const digest = sha256('abcdefghijklmnop');
    assert.equal(await chunked(`${location}?digest=${digest}`, 'opq', '14-15', 'PUT'), 416);
    assert.equal(await chunked(`${location}?digest=${sha256('abcdefghijklmnopqr')}`, 'r', '17-17', 'PUT'), 201);
  });

  it('PATCH without Content-Range appends (streamed, chunked transfer)', async () => {
    const location = await start('up/stream');
    const a = await patch(location, 'aaaa');
    assert.equal(a.status, 202);
    assert.equal(a.header('range'), '0-3');
    const b = await patch(location, 'bbbbbb');
    assert.equal(b.header('range'), '0-9');
    // A chunked (no Content-Length) body appends as well.
    assert.equal(await chunked(location, 'ccc'), 202);
    const status = await http('GET', url(location));
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), '0-12');
    const digest = sha256('aaaabbbbbbccc');
    assert.equal((await http('PUT', url(`${location}?digest=${digest}`))).status, 201);
    await expectBlob('up/stream', digest, 'aaaabbbbbbccc');
  });

  it('PUT ?digest= with a final chunk answers 201', async () => {
    const location = await start('up/final');
    assert.equal((await patch(location, 'part-one;', '0-8')).status, 202);
    const digest = sha256('part-one;part-two');
    const res = await http('PUT', url(`${location}?digest=${digest}`), {
      body: 'part-two',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '9-16' },
    });
    assert.equal(res.status, 201, res.body.toString());
    assert.equal(res.header('docker-content-digest'), digest);
    await expectBlob('up/final', digest, 'part-one;part-two');
  });

  it('PUT ?digest= carrying the whole blob on an empty session answers 201', async () => {
    const location = await start('up/final');
    const digest = sha256('all at once');
    const res = await http('PUT', url(`${location}?digest=${digest}`), { body: 'all at once' });
    assert.equal(res.status, 201);
    await expectBlob('up/final', digest, 'all at once');
  });

  it('an empty blob can be uploaded', async () => {
    const location = await start('up/final');
    const digest = sha256('');
    assert.equal((await http('PUT', url(`${location}?digest=${digest}`))).status, 201);
    const res = await http('GET', url(`/v2/up/final/blobs/${digest}`));
    assert.equal(res.status, 200);
    assert.equal(res.header('content-length'), '0');
  });

  it('PUT without ?digest= answers 400 DIGEST_INVALID', async () => {
    const location = await start('up/final');
    expectError(await http('PUT', url(location), { body: 'x' }), 400, 'DIGEST_INVALID');
  });

  it('DELETE answers 204, then the upload is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await start('up/cancel');
    assert.equal((await patch(location, 'doomed')).status, 202);
    const res = await http('DELETE', url(location));
    assert.equal(res.status, 204);
    expectError(await http('GET', url(location)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await patch(location, 'more'), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('PUT', url(`${location}?digest=${sha256('doomed')}`)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('DELETE', url(location)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('a wrong digest on PUT answers 400 DIGEST_INVALID and the blob is not visible afterwards', async () => {
    const location = await start('up/wrong');
    assert.equal((await patch(location, 'real content')).status, 202);
    const claimed = sha256('claimed content');
    expectError(await http('PUT', url(`${location}?digest=${claimed}`)), 400, 'DIGEST_INVALID');
    expectError(await http('GET', url(`/v2/up/wrong/blobs/${claimed}`)), 404, 'BLOB_UNKNOWN');
    assert.equal((await http('HEAD', url(`/v2/up/wrong/blobs/${sha256('real content')}`))).status, 404);
  });

  it('an unknown upload id answers 404 BLOB_UPLOAD_UNKNOWN for every method', async () => {
    const location = '/v2/up/unknown/blobs/uploads/no-such-upload-id';
    expectError(await http('GET', url(location)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await patch(location, 'x'), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('PUT', url(`${location}?digest=${sha256('x')}`), { body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('DELETE', url(location)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it("another repository's upload id answers 404 BLOB_UPLOAD_UNKNOWN and is left untouched", async () => {
    const location = await start('up/owner');
    assert.equal((await patch(location, 'mine')).status, 202);
    const id = location.slice(location.lastIndexOf('/') + 1);
    const foreign = `/v2/up/intruder/blobs/uploads/${id}`;
    expectError(await http('GET', url(foreign)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await patch(foreign, 'theirs'), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('PUT', url(`${foreign}?digest=${sha256('mine')}`)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('DELETE', url(foreign)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await http('GET', url(`/v2/up/intruder/blobs/${sha256('mine')}`)), 404, 'BLOB_UNKNOWN');
    const status = await http('GET', url(location));
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), '0-3');
  });

  /**
   * Declare a body of `data.length` bytes, send only `sent` of them, then drop the connection.
   * Resolves once the client socket is gone.
   */
  function abortedPatch(location: string, data: Buffer, sent: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = request(url(location), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length },
      });
      req.on('response', () => reject(new Error('server answered an incomplete PATCH')));
      req.on('error', () => undefined); // the destroy below
      req.write(data.subarray(0, sent), (err) => {
        if (err) return reject(err);
        req.destroy();
        resolve();
      });
    });
  }

  /**
   * Resume like a real client: read the offset, send the rest from there. While the server
   * is still winding down an aborted request the upload may answer busy (400), or the
   * offset may still move (416); both mean "ask again".
   */
  async function resume(location: string, data: Buffer, maxOffset: number, at = url): Promise<void> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const status = await http('GET', at(location));
      assert.equal(status.status, 204, status.body.toString());
      const offset = nextOffset(status);
      assert.ok(offset <= maxOffset, `offset ${offset} beyond the ${maxOffset} bytes sent`);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${data.length - 1}` };
      const res = await http('PATCH', at(location), { body: data.subarray(offset), headers });
      if (res.status === 202) {
        assert.equal(res.header('range'), `0-${data.length - 1}`);
        return;
      }
      assert.ok(res.status === 400 || res.status === 416, `unexpected ${res.status}: ${res.body.toString()}`);
    }
    assert.fail('could not resume the upload');
  }

  for (const [total, sent] of [
    [64 * 1024, 40 * 1024],
    [2 * 1024 * 1024, 1024 * 1024 + 997],
    [2 * 1024 * 1024, 1536 * 1024 + 3],
  ] as const) {
    it(`a client disconnecting mid-PATCH (${sent} of ${total} bytes) leaves a resumable upload`, async () => {
      const location = await start('up/abort');
      const data = Buffer.alloc(total);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + sent) & 0xff;
      await abortedPatch(location, data, sent);
      // The server keeps serving.
      assert.equal((await http('GET', url('/v2/'))).status, 200);
      await resume(location, data, sent);
      const digest = sha256(data);
      const put = await http('PUT', url(`${location}?digest=${digest}`));
      assert.equal(put.status, 201, put.body.toString());
      await expectBlob('up/abort', digest, data);
    });
  }

  it('limits.idleTimeoutSeconds does not cut a download whose client reads slowly', async () => {
    const quick = await startTestNode({ limits: { idleTimeoutSeconds: 0.3 } });
    try {
      const data = randomBytes(16 * 1024 * 1024); // more than the socket buffers hold, so the server's writes wait
      const digest = sha256(data);
      assert.equal((await http('POST', `${quick.url}/v2/up/slow/blobs/uploads/?digest=${digest}`, { body: data })).status, 201);
      const received = await new Promise<Buffer>((resolve, reject) => {
        request(`${quick.url}/v2/up/slow/blobs/${digest}`, (res) => {
          const parts: Buffer[] = [];
          res.once('data', (c: Buffer) => {
            parts.push(c);
            res.pause(); // stop reading for three idle timeouts
            setTimeout(() => res.on('data', (more: Buffer) => parts.push(more)).resume(), 1000);
          });
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(received.length, data.length);
      assert.equal(sha256(received), digest);
    } finally {
      await quick.close();
    }
  });

  it('closes a PATCH whose client stalls mid-body after limits.idleTimeoutSeconds; the upload resumes', async () => {
    const quick = await startTestNode({ limits: { idleTimeoutSeconds: 0.5 } });
    try {
      const at = (path: string): string => `${quick.url}${path}`;
      const location = (await http('POST', at('/v2/up/stall/blobs/uploads/'))).header('location') ?? '';
      const data = Buffer.alloc(64 * 1024, 'stalled-');
      // Declare the whole body, send a quarter, then go silent: the server must close the socket.
      await new Promise<void>((resolve, reject) => {
        const req = request(at(location), {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length },
        });
        req.on('response', () => reject(new Error('server answered an incomplete PATCH')));
        req.on('error', () => undefined); // the server's reset
        req.on('close', () => resolve());
        req.write(data.subarray(0, data.length / 4));
      });
      await resume(location, data, data.length / 4, at);
      const digest = sha256(data);
      assert.equal((await http('PUT', at(`${location}?digest=${digest}`))).status, 201);
      assert.deepEqual((await http('GET', at(`/v2/up/stall/blobs/${digest}`))).body, data);
    } finally {
      await quick.close();
    }
  });

  it('20 parallel monolithic pushes of the same blob all answer 201 and the blob reads back intact', async () => {
    const data = Buffer.alloc(256 * 1024, 'parallel-');
    const digest = sha256(data);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        http('POST', url(`/v2/up/parallel/blobs/uploads/?digest=${digest}`), {
          body: data,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      results.map(() => 201),
      results.map((r) => r.body.toString()).join('\n'),
    );
    await expectBlob('up/parallel', digest, data);
    // No staging leftovers from the racing sessions.
    let sessions = 0;
    for await (const s of node.stores.meta.listUploads()) if (s.repository === 'up/parallel') sessions++;
    assert.equal(sessions, 0);
  });
});
