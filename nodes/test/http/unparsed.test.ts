import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestNode, type TestNode } from '../support/harness.js';

/** Send `bytes` on a fresh connection; the whole answer once the server closes it. */
function exchange(url: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** Status line, headers and parsed body of a raw HTTP/1.1 answer. */
function parse(answer: string): {
  status: number;
  headers: Map<string, string>;
  body: { errors: { code: string; message: string; detail: unknown }[] };
} {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  assert.equal(Number(headers.get('content-length')), Buffer.byteLength(body, 'latin1'), answer);
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

describe('http: requests the HTTP parser refuses', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
  });
  after(async () => {
    await node.close();
  });

  const malformed: [string, string | Buffer][] = [
    ['a space in the path', 'GET /v2/a b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n'],
    [
      'a raw non-ASCII byte in the path',
      Buffer.concat([Buffer.from('GET /v2/a'), Buffer.from([0xff]), Buffer.from('/tags/list HTTP/1.1\r\nHost: x\r\n\r\n')]),
    ],
    ['a negative Content-Length', 'PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
    ['two different Content-Lengths', 'PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a header without a colon', 'GET /v2/ HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n'],
    ['not HTTP at all', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  ];
  for (const [what, bytes] of malformed) {
    it(`answers ${what} with 400 and an OCI error body, then closes`, async () => {
      const res = parse(await exchange(node.url, bytes));
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('connection'), 'close');
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(res.body.errors[0]?.code, 'UNSUPPORTED');
      assert.equal(res.body.errors[0]?.message, 'malformed HTTP request');
    });
  }

  it('answers headers over the size limit with 431, without echoing them', async () => {
    const secret = 'Bearer ' + 's'.repeat(20_000);
    const answer = await exchange(node.url, `GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${secret}\r\n\r\n`);
    const res = parse(answer);
    assert.equal(res.status, 431);
    assert.equal(res.body.errors[0]?.message, 'request headers too large');
    assert.ok(!answer.includes('sss'), 'the header is not echoed');
  });

  it('keeps serving well-formed requests', async () => {
    assert.equal((await fetch(`${node.url}/v2/`)).status, 200);
  });
});
