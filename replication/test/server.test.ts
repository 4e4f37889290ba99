import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { credentials, status as Status, type ServiceError } from '@grpc/grpc-js';
import {
  ReplicationClient,
  type BlobChunk,
  type BlobStat,
  type StatBlobRequest,
  type GetManifestRequest,
  type ListRepositoryRequest,
  type Manifest,
  type RepositoryPage,
  type StatusReply,
  type StatusRequest,
} from 'georeg/proto';
import { silentLogger } from 'georeg/nodes';
import { CHUNK_BYTES, startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { PeerClient } from '../src/peer-client.js';
import { node, pushImage, sha256, type Node } from './support.js';

function call<Req, Res>(fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

function readBlob(
  client: InstanceType<typeof ReplicationClient>,
  repository: string,
  digest: string,
  offset: number,
): Promise<BlobChunk[]> {
  return new Promise((resolve, reject) => {
    const chunks: BlobChunk[] = [];
    const stream = client.readBlob({ repository, digest, offset });
    stream.on('data', (c: BlobChunk) => chunks.push(c));
    stream.on('end', () => resolve(chunks));
    stream.on('error', reject);
  });
}

describe('replication: gRPC service over a node (real grpc-js)', () => {
  let n: Node;
  let server: RunningReplicationServer;
  let client: InstanceType<typeof ReplicationClient>;
  const layer = randomBytes(3 * CHUNK_BYTES + 12345);
  let image: Awaited<ReturnType<typeof pushImage>>;

  before(async () => {
    n = await node({ region: 'eu' });
    server = await startReplicationServer(
      n.registry,
      { host: '127.0.0.1', port: 0 },
      { region: 'eu', log: silentLogger, publicUrl: 'https://eu.registry.example' },
    );
    client = new ReplicationClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    image = await pushImage(n.url, 'team/app', 'v1', layer);
  });
  after(async () => {
    client?.close();
    await server?.close();
    await n?.close();
  });

  it('streams a blob in bounded chunks whose offsets add up, with the size on the first', async () => {
    const chunks = await readBlob(client, 'team/app', image.layer, 0);
    assert.ok(chunks.length >= 4);
    assert.ok(chunks.every((c) => c.data.length <= CHUNK_BYTES));
    assert.equal(chunks[0]?.size, layer.length);
    let at = 0;
    for (const c of chunks) {
      assert.equal(c.offset, at);
      at += c.data.length;
    }
    assert.equal(sha256(Buffer.concat(chunks.map((c) => c.data))), image.layer);
  });

  it('resumes from an offset', async () => {
    const from = CHUNK_BYTES + 7;
    const chunks = await readBlob(client, 'team/app', image.layer, from);
    assert.equal(chunks[0]?.offset, from);
    assert.deepEqual(Buffer.concat(chunks.map((c) => c.data)), layer.subarray(from));
  });

  it('stops a stream the peer cancels and goes on serving', async () => {
    const big = await pushImage(n.url, 'team/big', 'v1', randomBytes(16 * CHUNK_BYTES));
    const stream = client.readBlob({ repository: 'team/big', digest: big.layer, offset: 0 });
    const failed = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    await new Promise((resolve) => stream.once('data', resolve));
    stream.cancel();
    assert.equal((await failed).code, Status.CANCELLED);
    const chunks = await readBlob(client, 'team/app', image.layer, 0);
    assert.equal(sha256(Buffer.concat(chunks.map((c) => c.data))), image.layer);
  });

  it('close() cuts a copy whose peer stopped reading, after a grace period, instead of waiting for it', async () => {
    const big = await pushImage(n.url, 'team/stalled', 'v1', randomBytes(32 * CHUNK_BYTES));
    const other = await startReplicationServer(n.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    const peer = new ReplicationClient(`127.0.0.1:${other.port}`, credentials.createInsecure());
    try {
      const stream = peer.readBlob({ repository: 'team/stalled', digest: big.layer, offset: 0 });
      const failed = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      await new Promise((resolve) => stream.once('data', resolve));
      stream.pause(); // flow control now holds the server's writes
      const began = Date.now();
      await other.close();
      assert.ok(Date.now() - began < 10_000, 'closed within the grace period');
      assert.notEqual((await failed).code, Status.OK);
    } finally {
      peer.close();
    }
  });

  it('answers NOT_FOUND for a blob the repository does not link, and OUT_OF_RANGE past the end', async () => {
    await assert.rejects(readBlob(client, 'other/repo', image.layer, 0), (e: ServiceError) => e.code === Status.NOT_FOUND);
    await assert.rejects(readBlob(client, 'team/app', image.layer, layer.length + 1), (e: ServiceError) => e.code === Status.OUT_OF_RANGE);
    await assert.rejects(readBlob(client, 'Bad/Name', image.layer, 0), (e: ServiceError) => e.code === Status.INVALID_ARGUMENT);
  });

  it('says whether it holds a blob in a repository, with its public URL (where pulls may be redirected)', async () => {
    const stat = (repository: string, digest: string) =>
      call<StatBlobRequest, BlobStat>(client.statBlob.bind(client), { repository, digest });
    assert.deepEqual(await stat('team/app', image.layer), { present: true, size: layer.length, url: 'https://eu.registry.example' });
    // Repositories stay isolated: a blob linked elsewhere is not there for this one.
    assert.deepEqual(await stat('other/repo', image.layer), { present: false, size: 0, url: '' });
    await assert.rejects(stat('team/app', 'sha256:nothex'), (e: ServiceError) => e.code === Status.INVALID_ARGUMENT);
  });

  it('returns a manifest by digest with its exact bytes and media type', async () => {
    const m = await call<GetManifestRequest, Manifest>(client.getManifest.bind(client), {
      repository: 'team/app',
      digest: image.digest,
      withReferrers: false,
    });
    assert.equal(m.digest, image.digest);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(Buffer.from(m.content), image.manifest);
    await assert.rejects(
      call<GetManifestRequest, Manifest>(client.getManifest.bind(client), {
        repository: 'team/app',
        digest: sha256('nope'),
        withReferrers: false,
      }),
      (e: ServiceError) => e.code === Status.NOT_FOUND,
    );
  });

  it('lists a repository page by page, and reports its region', async () => {
    for (const t of ['v2', 'v3']) await pushImage(n.url, 'team/app', t, layer);
    const first = await call<ListRepositoryRequest, RepositoryPage>(client.listRepository.bind(client), {
      repository: 'team/app',
      after: '',
      limit: 2,
    });
    assert.deepEqual(
      first.tags.map((t) => t.tag),
      ['v1', 'v2'],
    );
    assert.equal(first.more, true);
    assert.deepEqual(first.manifests, [image.digest]);
    const second = await call<ListRepositoryRequest, RepositoryPage>(client.listRepository.bind(client), {
      repository: 'team/app',
      after: 'v2',
      limit: 2,
    });
    assert.deepEqual(
      second.tags.map((t) => [t.tag, t.digest]),
      [['v3', image.digest]],
    );
    assert.equal(second.more, false);
    const st = await call<StatusRequest, StatusReply>(client.status.bind(client), { probe: false });
    assert.equal(st.region, 'eu');
    const probe = await call<StatusRequest, StatusReply>(client.status.bind(client), { probe: true });
    assert.deepEqual(
      probe,
      { region: 'eu', peers: [], drained: false, publicUrl: 'https://eu.registry.example' },
      'a health probe is answered without the status',
    );
  });
});

describe('replication: ReadBlob over the memory driver', () => {
  it('streams all of a blob the driver holds in several pieces (a chunked upload) before it ends the call', async () => {
    const n = await node({ region: 'eu', storage: { driver: 'memory' } });
    const server = await startReplicationServer(n.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    const client = new ReplicationClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    try {
      const parts = [randomBytes(70000), randomBytes(3000), randomBytes(2000)];
      const digest = sha256(Buffer.concat(parts));
      const post = await fetch(`${n.url}/v2/team/mem/blobs/uploads/`, { method: 'POST' });
      let location = new URL(post.headers.get('location') ?? '', n.url);
      let at = 0;
      for (const part of parts) {
        const res = await fetch(location, {
          method: 'PATCH',
          body: new Uint8Array(part),
          headers: { 'Content-Range': `${at}-${at + part.length - 1}` },
        });
        assert.equal(res.status, 202);
        location = new URL(res.headers.get('location') ?? '', n.url);
        at += part.length;
      }
      location.searchParams.set('digest', digest);
      assert.equal((await fetch(location, { method: 'PUT' })).status, 201);

      const chunks = await readBlob(client, 'team/mem', digest, 0);
      assert.equal(sha256(Buffer.concat(chunks.map((c) => c.data))), digest);
    } finally {
      client.close();
      await server.close();
      await n.close();
    }
  });
});

describe('replication: a peer client stopping its copies', () => {
  it('cancelAll() fails a blob stream in progress, and any call asked for later', async () => {
    const n = await node({ region: 'eu' });
    const server = await startReplicationServer(n.registry, { host: '127.0.0.1', port: 0 }, { region: 'eu', log: silentLogger });
    const peer = new PeerClient('eu', `127.0.0.1:${server.port}`);
    try {
      const big = await pushImage(n.url, 'team/slow', 'v1', randomBytes(16 * CHUNK_BYTES));
      const stream = peer.readBlob('team/slow', big.layer, 0);
      const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
      await new Promise((resolve) => stream.once('data', resolve));
      stream.pause(); // a copy in progress, as over a slow link
      peer.cancelAll();
      assert.match((await failed).message, /stopping/);
      const later = peer.readBlob('team/slow', big.layer, 0);
      assert.match((await new Promise<Error>((resolve) => later.once('error', resolve))).message, /stopping/);
      await assert.rejects(peer.getManifest('team/slow', big.digest), /stopping/);
    } finally {
      peer.close();
      await server.close();
      await n.close();
    }
  });

  it('cancelAll() fails a call waiting on a peer that accepts connections and never answers', async () => {
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket)); // takes the TCP connection, never speaks HTTP/2
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const peer = new PeerClient('xx', `127.0.0.1:${(hung.address() as AddressInfo).port}`);
    try {
      const call = peer.listRepositories('', 10);
      const began = Date.now();
      setTimeout(() => peer.cancelAll(), 100);
      await assert.rejects(call);
      assert.ok(Date.now() - began < 5000, 'not the 30 s deadline');
    } finally {
      peer.close();
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => hung.close(resolve));
    }
  });
});
