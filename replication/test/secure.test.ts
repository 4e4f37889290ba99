import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { connect } from 'nats';
import { readFileSync } from 'node:fs';
import { silentLogger } from 'georeg/nodes';
import { TestNats } from 'georeg/nodes/testing';
import { startReplicationServer, type RunningReplicationServer } from '../src/server.js';
import { PeerClient } from '../src/peer-client.js';
import { replicationCredentials } from '../src/tls.js';
import { node, pushImage, type Node } from './support.js';

const cli = new URL('../../../cli/dist/src/main.js', import.meta.url).pathname;

describe('traffic between regions is authenticated: mutual TLS for gRPC, credentials for NATS', function () {
  this.timeout(30_000);
  let dir: string;
  let origin: Node;
  let server: RunningReplicationServer;
  let tls: { tlsCa: string; tlsCert: string; tlsKey: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-secure-'));
    await promisify(execFile)(process.execPath, [cli, 'certs', 'dev', '--out', join(dir, 'certs')]);
    tls = { tlsCa: join(dir, 'certs/ca.pem'), tlsCert: join(dir, 'certs/client.pem'), tlsKey: join(dir, 'certs/client.key') };
    origin = await node({ region: 'eu' });
    const serverSide = replicationCredentials({ replication: { tlsCa: tls.tlsCa, tlsCert: tls.tlsCert, tlsKey: tls.tlsKey } });
    server = await startReplicationServer(
      origin.registry,
      { host: '127.0.0.1', port: 0 },
      { region: 'eu', log: silentLogger, credentials: serverSide.server },
    );
  });
  after(async () => {
    await server?.close();
    await origin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a peer presenting a certificate from the CA', async () => {
    const mine = replicationCredentials({ replication: { ...tls } });
    assert.equal(mine.mutual, true);
    const peer = new PeerClient('eu', `127.0.0.1:${server.port}`, mine.client);
    try {
      assert.equal((await peer.listRepositories('', 10)).names.length, 0);
      assert.equal(await peer.ping(2000), true);
    } finally {
      peer.close();
    }
  });

  it('refuses a peer without a client certificate, and one speaking plain text', async () => {
    const ca = readFileSync(tls.tlsCa);
    for (const channel of [credentials.createSsl(ca), credentials.createInsecure()]) {
      const peer = new PeerClient('eu', `127.0.0.1:${server.port}`, channel);
      try {
        await assert.rejects(peer.listRepositories('', 10));
        assert.equal(await peer.ping(2000), false);
      } finally {
        peer.close();
      }
    }
  });

  it('wants all three TLS files or none', () => {
    assert.throws(() => replicationCredentials({ replication: { tlsCa: tls.tlsCa, tlsCert: '', tlsKey: '' } }), /go together/);
    assert.throws(() => replicationCredentials({ replication: { ...tls, tlsKey: join(dir, 'missing.key') } }), /cannot read/);
  });

  it('publishes events to a NATS that requires credentials, which a process without them cannot read', async () => {
    const nats = await TestNats.start({ auth: { user: 'georeg', pass: 'a nats password' } });
    const passwordFile = join(dir, 'nats-password');
    await writeFile(passwordFile, 'a nats password\n', { mode: 0o600 });
    const n = await node({ region: 'us', nats: { url: nats.url, user: 'georeg', passwordFile } });
    try {
      await pushImage(n.url, 'team/app', 'v1', Buffer.from('layer'));
      await n.publisher?.drained();
      assert.equal(n.stores.meta.outboxDepth(), 0, 'the events went out');
      await assert.rejects(connect({ servers: nats.url, reconnect: false }), /Authorization Violation|AUTHORIZATION_VIOLATION/i);
      const nc = await connect({ servers: nats.url, user: 'georeg', pass: 'a nats password' });
      const info = await (await nc.jetstreamManager()).streams.info('GEOREG_EVENTS_US');
      assert.ok(info.state.messages >= 2);
      await nc.close();
    } finally {
      await n.close();
      await nats.destroy();
    }
  });
});
