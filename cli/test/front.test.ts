import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedPort } from 'georeg/test-support';
import { startFront, type RunningFront } from '../src/front.js';
import { expectCleanFailure, georeg } from './support/run.js';

interface Seen {
  node: string;
  host?: string;
  forwardedFor?: string;
}

/** A node stand-in: answers which node it is, what it was sent (Host, X-Forwarded-For) and the SHA-256 of the body. */
async function stub(name: string, seen: Seen[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    seen.push({ node: name, host: req.headers.host, forwardedFor: req.headers['x-forwarded-for'] as string | undefined });
    const h = createHash('sha256');
    req.on('data', (c: Buffer) => h.update(c));
    req.on('end', () => res.end(JSON.stringify({ node: name, sha256: h.digest('hex') })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function send(
  url: string,
  method = 'GET',
  body?: Buffer,
): Promise<{ status: number; json: Record<string, string>; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: body ? { 'Content-Length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()), headers: res.headers }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('georeg front: round robin over the nodes of a region', () => {
  const seen: Seen[] = [];
  let a: { server: Server; port: number };
  let b: { server: Server; port: number };
  let front: RunningFront;

  beforeEach(async () => {
    seen.length = 0;
    [a, b] = [await stub('a', seen), await stub('b', seen)];
    front = await startFront(
      { host: '127.0.0.1', port: 0 },
      [a, b].map((s) => ({ host: '127.0.0.1', port: s.port })),
    );
  });
  afterEach(async () => {
    await front.close();
    a.server.close();
    b.server.close();
  });

  it('sends each request to the next node, keeping Host and adding X-Forwarded-For', async () => {
    const nodes = [];
    for (let i = 0; i < 4; i++) nodes.push((await send(`${front.url}/v2/`)).json.node);
    assert.deepEqual(nodes, ['a', 'b', 'a', 'b']);
    assert.equal(seen[0]?.host, new URL(front.url).host);
    assert.equal(seen[0]?.forwardedFor, '127.0.0.1');
  });

  it('streams a request body of 8 MiB to the node and its answer back', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const got = await send(`${front.url}/v2/team/app/blobs/uploads/x`, 'PATCH', body);
    assert.equal(got.json.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it('leaves a node that refuses connections out, and sends requests without a body on to the other', async () => {
    await new Promise((resolve) => a.server.close(resolve));
    a.server.closeAllConnections();
    const nodes = [];
    for (let i = 0; i < 4; i++) nodes.push((await send(`${front.url}/v2/`)).json.node);
    assert.deepEqual(nodes, ['b', 'b', 'b', 'b']);
  });

  it('keeps a node that refused out while it still refuses (requests with a body all go to the other), and takes it back once it answers', async () => {
    await new Promise((resolve) => a.server.close(resolve));
    a.server.closeAllConnections();
    assert.equal((await send(`${front.url}/v2/`)).json.node, 'b', 'refused by a, sent on to b');
    // Longer than a fixed rest would last: every request with a body (not replayable) still goes to b.
    for (const until = Date.now() + 3000; Date.now() < until;) {
      const got = await send(`${front.url}/v2/team/app/blobs/uploads/x`, 'PATCH', randomBytes(1024));
      assert.equal(got.status, 200);
      assert.equal(got.json.node, 'b');
    }
    await new Promise<void>((resolve) => a.server.listen(a.port, '127.0.0.1', resolve));
    const deadline = Date.now() + 5000;
    while ((await send(`${front.url}/v2/`)).json.node !== 'a') assert.ok(Date.now() < deadline, 'a is taken back once it answers');
  });

  it('leaves a node whose name does not resolve (a stopped container’s) out, as one that refuses connections', async () => {
    await front.close();
    front = await startFront({ host: '127.0.0.1', port: 0 }, [
      { host: 'georeg-stopped-node.invalid', port: a.port },
      { host: '127.0.0.1', port: b.port },
    ]);
    const nodes = [];
    for (let i = 0; i < 4; i++) nodes.push((await send(`${front.url}/v2/`)).json.node);
    assert.deepEqual(nodes, ['b', 'b', 'b', 'b']);
  });

  it('sends a GET on to the next node when its node cuts a new connection unanswered (it is dying)', async () => {
    a.server.removeAllListeners('request');
    a.server.on('request', (req: IncomingMessage) => req.socket.destroy());
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push((await send(`${front.url}/v2/`)).json.node);
    assert.deepEqual(nodes, ['b', 'b', 'b']);
  });

  it('sends a request without a body on to the next node when its node cuts a kept-alive connection unanswered (it died)', async () => {
    let answered = false;
    a.server.removeAllListeners('request');
    a.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (answered) return void req.socket.destroy(); // the connection kept from the first request, cut
      answered = true;
      res.end(JSON.stringify({ node: 'a' }));
    });
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push((await send(`${front.url}/v2/`)).json.node);
    assert.deepEqual(nodes, ['a', 'b', 'b']);
  });

  it('answers 503 UNAVAILABLE with Retry-After to a request with a body whose node went away, and when no node answers', async () => {
    await front.close();
    front = await startFront({ host: '127.0.0.1', port: 0 }, [{ host: '127.0.0.1', port: await closedPort() }]);
    const put = await send(`${front.url}/v2/team/app/blobs/uploads/x`, 'PUT', Buffer.from('bytes'));
    assert.equal(put.status, 503);
    assert.equal(put.headers['retry-after'], '1');
    assert.equal((put.json.errors as unknown as { code: string }[])[0]?.code, 'UNAVAILABLE');
    const get = await send(`${front.url}/v2/`);
    assert.equal(get.status, 503);
    assert.match((get.json.errors as unknown as { detail: string }[])[0]?.detail ?? '', /went away|no node/);
  });

  it('as a command: names what is missing or malformed, and --help says what it does', async () => {
    expectCleanFailure(await georeg(['front']), 2, /no --node given: name each node of the region as --node HOST:PORT/);
    expectCleanFailure(await georeg(['front', '--node', 'nope']), 2, /must be HOST:PORT, got "nope"/);
    const help = await georeg(['front', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /round-robin front/);
  });
});
