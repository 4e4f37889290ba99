import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Server, ServerCredentials, status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import type { BlobChunk, ReadBlobRequest } from 'georeg/proto';
import { ReplicationDefinition } from '../src/blob-chunks.js';
import { PeerClient } from '../src/peer-client.js';

/** A Replication service whose ReadBlob is `serve`; every other call is UNIMPLEMENTED. */
async function fakePeer(serve: (call: ServerWritableStream<ReadBlobRequest, BlobChunk>) => void): Promise<{ port: number; close(): void }> {
  const server = new Server();
  const unimplemented = (_call: unknown, cb: (err: { code: Status }) => void): void => cb({ code: Status.UNIMPLEMENTED });
  const impl = Object.fromEntries(Object.keys(ReplicationDefinition).map((k) => [k, unimplemented]));
  server.addService(ReplicationDefinition, { ...impl, readBlob: serve });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, close: () => server.forceShutdown() };
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('replication: a peer that sends too much, or too slowly', () => {
  const blob = randomBytes(100_000);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

  it('takes no byte past the size the manifest declares, however much the peer sends', async () => {
    let cancelled = false;
    const peer = await fakePeer((call) => {
      call.on('cancelled', () => (cancelled = true));
      let offset = call.request.offset;
      const send = (): void => {
        // The blob, then garbage without end (800 MB in the review's reproduction).
        while (!cancelled && offset < 50_000_000) {
          const data = offset < blob.length ? blob.subarray(offset, offset + 30_000) : randomBytes(64 * 1024);
          const ok = call.write({ offset, data, size: 0 });
          offset += data.length;
          if (!ok) return void call.once('drain', send);
        }
        call.end();
      };
      send();
    });
    const client = new PeerClient('evil', `127.0.0.1:${peer.port}`);
    try {
      const got = await drain(client.readBlob('team/app', digest, 0, blob.length));
      assert.equal(got.length, blob.length);
      assert.ok(got.equals(blob));
      assert.equal(client.bytesCopied, blob.length);
      assert.equal(client.bytesInFlight, 0);
      // From an offset, the same bound: the rest of the blob and nothing more.
      assert.ok((await drain(client.readBlob('team/app', digest, 60_000, blob.length))).equals(blob.subarray(60_000)));
    } finally {
      client.close();
      peer.close();
    }
  });

  it('fails a blob stream that brings no bytes for the idle limit, after the bytes that arrived', async () => {
    const peer = await fakePeer((call) => {
      call.write({ offset: call.request.offset, data: blob.subarray(0, 1000), size: blob.length });
      // ...then nothing, with the stream and the connection open.
    });
    const client = new PeerClient('slow', `127.0.0.1:${peer.port}`, undefined, 300);
    try {
      const stream = client.readBlob('team/app', digest, 0, blob.length);
      const got: Buffer[] = [];
      stream.on('data', (c: Buffer) => got.push(c));
      const err = await new Promise<Error>((resolve) => stream.once('error', resolve));
      assert.match(err.message, /peer slow sent no bytes of sha256:[0-9a-f]{64} for 0\.3 s/);
      assert.equal(Buffer.concat(got).length, 1000);
      assert.equal(client.bytesInFlight, 0);
    } finally {
      client.close();
      peer.close();
    }
  });

  it('does not count a reader that stops reading (back-pressure) as a silent peer', async () => {
    const peer = await fakePeer((call) => {
      for (let offset = 0; offset < blob.length; offset += 10_000)
        call.write({ offset, data: blob.subarray(offset, offset + 10_000), size: blob.length });
      call.end();
    });
    const client = new PeerClient('fine', `127.0.0.1:${peer.port}`, undefined, 200);
    try {
      const stream = client.readBlob('team/app', digest, 0, blob.length);
      await new Promise((resolve) => stream.once('readable', resolve));
      await new Promise((resolve) => setTimeout(resolve, 600)); // a reader busy elsewhere, three idle limits long
      assert.ok((await drain(stream)).equals(blob));
    } finally {
      client.close();
      peer.close();
    }
  });
});
