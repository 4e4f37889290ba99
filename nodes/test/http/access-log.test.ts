import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createLogger } from '../../src/log.js';
import { http, sha256 } from '../support/client.js';
import { startTestNode, type TestNode } from '../support/harness.js';

interface AccessLine {
  msg: string;
  method: string;
  route: string;
  status: number;
  bytesIn: number;
}

describe('http: access log', () => {
  let node: TestNode;
  const lines: AccessLine[] = [];
  const log = createLogger({ level: 'info', write: (line) => void lines.push(JSON.parse(line) as AccessLine) });
  const url = (path: string): string => new URL(path, node.url).toString();

  before(async () => {
    node = await startTestNode({ log: { level: 'info', access: true } }, undefined, log);
  });
  after(() => node.close());

  /** The access log line of the request that answered `res` (lines are written as responses finish). */
  const logged = (method: string, route: string): AccessLine => {
    const line = lines.filter((l) => l.msg === 'request' && l.method === method && l.route === route).at(-1);
    assert.ok(line, `no access log line for ${method} ${route}`);
    return line;
  };

  /** A PATCH whose body goes chunked (no Content-Length), as podman sends them. */
  function chunkedPatch(location: string, parts: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(url(location), { method: 'PATCH' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      for (const p of parts) req.write(p);
      req.end();
    });
  }

  it('logs the body bytes read, for chunked bodies too', async () => {
    const start = await http('POST', url('/v2/log/app/blobs/uploads/'));
    const location = start.header('location') as string;
    const parts = ['a'.repeat(1000), 'b'.repeat(70_000), 'c'.repeat(5)];
    assert.equal(await chunkedPatch(location, parts), 202);
    assert.equal(logged('PATCH', 'upload').bytesIn, 71_005);

    const data = Buffer.alloc(4096, 7);
    assert.equal((await http('POST', url(`/v2/log/app/blobs/uploads/?digest=${sha256(data)}`), { body: data })).status, 201);
    assert.equal(logged('POST', 'uploads').bytesIn, 4096);

    assert.equal((await http('GET', url('/v2/'))).status, 200);
    assert.equal(logged('GET', 'base').bytesIn, 0);
  });
});
