import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { pushImage } from 'georeg/test-support';
import { PeerStatus } from 'georeg/proto';
import { formatStatus } from '../src/commands/status.js';
import { formatWhere } from '../src/commands/where.js';
import { georeg, main } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

describe('georeg status and where', () => {
  it('formats per-peer replication status and per-region locations as tables', () => {
    const s = formatStatus(
      {
        region: 'us',
        drained: false,
        outbox: { depth: 3, published: 10 },
        stream: {
          name: 'GEOREG_EVENTS_US',
          messages: 12,
          bytes: 3200,
          firstSeq: 89,
          lastSeq: 100,
          oldest: '2026-01-01T11:55:00.000Z',
        },
        peers: [
          {
            region: 'eu',
            lagSeconds: 1.25,
            pendingEvents: 4,
            bytesInFlight: 449839104,
            applied: 7,
            repairs: 2,
            failures: 1,
            parked: 5,
            blobs: 0,
            bytes: 0,
            retries: 0,
            deferred: 0,
            conflicts: 0,
            failuresByReason: {},
            up: false,
            drained: false,
            lastError: 'UNAVAILABLE',
          },
        ],
      },
      Date.parse('2026-01-01T12:00:00Z'),
    );
    assert.match(s, /^region us; outbox 3 waiting, 10 published; stream 12 events, 3\.1 KiB, oldest 5m old\n/);
    assert.match(s, /FROM +HEALTH +RTT +LAG +PENDING/);
    assert.match(s, /eu +DOWN +- +1\.3s +4 +429 MiB +7 +2 +1 +5 +UNAVAILABLE/);
    const drained = formatStatus({
      region: 'us',
      drained: true,
      outbox: null,
      stream: null,
      peers: [PeerStatus.fromPartial({ region: 'ap', up: true, drained: true, rttMs: 12.34 })],
    });
    assert.match(drained, /^region us \(drained: peers send no client here\); outbox off \(no nats\.url\)\n/);
    assert.match(drained, /ap +ok, drained +12\.3ms +0\.0s/);
    // --all: every region's own view; a region that cannot be asked shows what it missed, not "lag 0".
    const all = formatStatus({
      region: 'us',
      drained: false,
      outbox: { depth: 0, published: 3 },
      stream: null,
      peers: [PeerStatus.fromPartial({ region: 'eu', up: true }), PeerStatus.fromPartial({ region: 'ap', up: false })],
      regions: [
        { region: 'eu', peers: [PeerStatus.fromPartial({ region: 'us', up: true, lagSeconds: 0.5, pendingEvents: 2 })] },
        { region: 'ap', error: 'deadline exceeded', pendingFromHere: 17 },
      ],
    });
    assert.match(all, /every region's own view/);
    assert.match(all, /eu +us +ok +0\.5s +2/);
    assert.match(all, /ap +- +UNREACHABLE +- +- +deadline exceeded; 17 events of us not applied there/);
    const w = formatWhere('team/app:v1', [
      { region: 'us', state: 'complete', digest: 'sha256:aa' },
      { region: 'eu', state: 'incomplete', digest: 'sha256:aa', missing: ['sha256:bb'] },
      { region: 'ap', state: 'unreachable', error: 'connect refused' },
    ]);
    assert.match(w, /us +complete +sha256:aa/);
    assert.match(w, /eu +incomplete +sha256:aa +missing 1: sha256:bb/);
    assert.match(w, /ap +unreachable +connect refused/);
  });

  it('asks a running node, and exits 1 when no region holds the image', async () => {
    const node = await startTestNode();
    try {
      const img = await pushImage(node.url, 'team/app', 'v1');
      const status = await georeg(['status', '--url', node.url]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /region local; outbox off/);
      const found = await georeg(['where', 'team/app:v1', '--url', node.url]);
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stdout, new RegExp(`local +complete +${img.digest}`));
      const byDigest = await georeg(['where', `team/app@${img.digest}`, '--url', node.url, '--json']);
      assert.equal(JSON.parse(byDigest.stdout).regions[0].state, 'complete');
      const missing = await georeg(['where', 'team/app:nope', '--url', node.url]);
      assert.equal(missing.code, 1);
      assert.match(missing.stdout, /local +absent/);
      const bad = await georeg(['where', 'no-tag-here', '--url', node.url]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /NAME:TAG or NAME@DIGEST/);
      const client = await georeg(['where', '--client', '10.1.2.3', '--url', node.url]);
      assert.equal(client.code, 0, client.stderr);
      assert.match(
        client.stdout,
        /^10\.1\.2\.3 is in no placement block \(network\.placement\) of local: it is served by the region it asks$/m,
      );
      const badClient = await georeg(['where', '--client', 'eu.example', '--url', node.url]);
      assert.equal(badClient.code, 2);
      assert.match(badClient.stderr, /--client must be an IPv4 or IPv6 address, got "eu\.example"/);
      const both = await georeg(['where', 'team/app:v1', '--client', '10.1.2.3', '--url', node.url]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /either an image or --client ADDRESS, not both/);
    } finally {
      await node.close();
    }
  });

  it('gives up on a node that does not answer within --timeout, saying so (status, where and the other API commands)', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((socket) => void sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
      const started = Date.now();
      const run = await georeg(['status', '--url', url, '--timeout', '0.5']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, new RegExp(`${url} did not answer within 0\\.5 s \\(--timeout SECONDS waits longer\\)`));
      assert.ok(Date.now() - started < 5000, 'it did not wait for longer');
      assert.match((await georeg(['where', 'a/b:c', '--timeout', 'soon'])).stderr, /--timeout must be a number of seconds/);
      for (const args of [
        ['region', 'show', 'eu'],
        ['user', 'list'],
        ['policy', 'show'],
      ]) {
        const other = await georeg([...args, '--url', url, '--timeout', '0.5']);
        assert.equal(other.code, 1, `${args.join(' ')}: ${other.stderr}`);
        assert.match(other.stderr, /did not answer within 0\.5 s \(--timeout SECONDS waits longer\)/, args.join(' '));
      }
      // gc, sign and verify too (sign needs a key first; it fails at the registry, not at the key).
      const host = url.replace(/^http:\/\//, '');
      const keys = await mkdtemp(join(tmpdir(), 'georeg-timeout-'));
      assert.equal((await georeg(['key', 'generate', '--out', join(keys, 'ci')])).code, 0);
      const key = join(keys, 'ci.key');
      for (const args of [
        ['gc', '--url', url],
        ['verify', '--key', join(keys, 'ci.pub'), `${host}/team/app:v1`],
        ['sign', '--key', key, `${host}/team/app:v1`],
        ['push', '/tmp/lab-images/small', `${host}/team/app:v1`],
      ]) {
        const other = await georeg([...args, '--timeout', '0.5']);
        assert.notEqual(other.code, 0, args.join(' '));
        assert.match(other.stderr, /did not answer within 0\.5 s \(--timeout SECONDS waits longer\)/, `${args.join(' ')}: ${other.stderr}`);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      hung.close();
    }
  });

  it('--watch redraws the table until interrupted, then exits 0', async () => {
    const node = await startTestNode();
    try {
      const child = spawn(process.execPath, [main, 'status', '--watch', '--interval', '0.1', '--url', node.url]);
      let out = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if ((out.match(/region local; outbox off/g) ?? []).length >= 3) resolve();
        });
      });
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.match(out, /^\d{4}-\d\d-\d\dT/m, 'each redraw is stamped');
    } finally {
      await node.close();
    }
  });

  it('says clearly when the node cannot be reached', async () => {
    const r = await georeg(['status', '--url', 'http://127.0.0.1:1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});
