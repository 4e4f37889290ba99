import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config.js';
import { AllowList, isLoopbackHost, parseAddress, parseCidr } from '../../src/http/network.js';
import { startTestNode, type TestNode } from '../support/harness.js';
import { http } from '../support/client.js';

const list = (spec: string): AllowList => {
  const l = AllowList.parse(spec);
  assert.ok(l, `${spec} parses to a list`);
  return l;
};

describe('network: CIDR allow list', () => {
  it('parses IPv4, IPv6 and IPv4-mapped IPv6 addresses to the same 128-bit space', () => {
    assert.deepEqual(parseAddress('127.0.0.1'), parseAddress('::ffff:127.0.0.1'));
    assert.deepEqual(parseAddress('::ffff:7f00:1'), parseAddress('127.0.0.1'));
    assert.deepEqual(parseAddress('::1'), [0, 0, 0, 1]);
    assert.deepEqual(parseAddress('::'), [0, 0, 0, 0]);
    assert.deepEqual(parseAddress('2001:db8::8:800:200c:417a'), parseAddress('2001:0DB8:0000:0000:0008:0800:200C:417A'));
    assert.deepEqual(parseAddress('fe80::1%eth0'), parseAddress('fe80::1'));
    assert.deepEqual(parseAddress('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), [-1, -1, -1, -1]);
    for (const bad of ['', 'localhost', '1.2.3', '256.0.0.1', '1.2.3.4.5', ':::', '1::2::3', 'g::1', '12345::1']) {
      assert.equal(parseAddress(bad), undefined, String(bad));
    }
  });

  it('matches IPv4 rules, including clients Node reports as IPv4-mapped IPv6', () => {
    const l = list('10.0.0.0/8, 192.168.1.0/24,127.0.0.1/32');
    for (const ok of ['10.0.0.0', '10.255.255.255', '10.1.2.3', '::ffff:10.9.8.7', '192.168.1.200', '127.0.0.1', '::ffff:127.0.0.1'])
      assert.ok(l.allows(ok), ok);
    for (const no of ['11.0.0.0', '9.255.255.255', '192.168.2.1', '127.0.0.2', '::ffff:127.0.0.2', '::1', '::a00:1', '', undefined])
      assert.ok(!l.allows(no), String(no));
  });

  it('matches IPv6 rules', () => {
    const l = list('::1/128,fd00::/8,2001:db8:abcd::/48');
    for (const ok of ['::1', 'fd12:3456::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8:abcd:12::1', 'fd00::1%eth0'])
      assert.ok(l.allows(ok), ok);
    for (const no of ['::2', 'fe00::1', '2001:db8:abce::1', '127.0.0.1', '::ffff:127.0.0.1']) assert.ok(!l.allows(no), no);
  });

  it('edge prefixes: /0, /32, /128, prefixes off a word boundary, bare addresses, host bits', () => {
    const v4all = list('0.0.0.0/0');
    assert.ok(v4all.allows('1.2.3.4') && v4all.allows('255.255.255.255') && v4all.allows('::ffff:8.8.8.8'));
    assert.ok(!v4all.allows('::1') && !v4all.allows('2001:db8::1'), '0.0.0.0/0 is every IPv4 address, no IPv6 one');
    const all = list('::/0');
    for (const a of ['::', '::1', 'ffff::1', '1.2.3.4']) assert.ok(all.allows(a), `::/0 allows ${a}`);
    const host4 = list('203.0.113.7/32');
    assert.ok(host4.allows('203.0.113.7') && !host4.allows('203.0.113.6') && !host4.allows('203.0.113.8'));
    const host6 = list('2001:db8::7/128');
    assert.ok(host6.allows('2001:db8::7') && !host6.allows('2001:db8::6'));
    const bare = list('203.0.113.7,2001:db8::7');
    assert.ok(bare.allows('203.0.113.7') && bare.allows('2001:db8::7') && !bare.allows('203.0.113.8'));
    const odd = list('172.16.0.0/12,2001:db8:8000::/33');
    assert.ok(odd.allows('172.31.255.255') && !odd.allows('172.32.0.0') && !odd.allows('172.15.255.255'));
    assert.ok(odd.allows('2001:db8:ffff::1') && !odd.allows('2001:db8:7fff::1'));
    const masked = list('10.1.2.3/8');
    assert.ok(masked.allows('10.200.0.1'), 'host bits beyond the prefix are ignored');
    assert.deepEqual(parseCidr('10.1.2.3/8').base, parseCidr('10.0.0.0/8').base);
  });

  it('an empty list means everyone (undefined: no check at all); bad entries are ConfigErrors naming them', () => {
    assert.equal(AllowList.parse(''), undefined);
    assert.equal(AllowList.parse('  '), undefined);
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/-1',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      'example.com',
      '10.0.0/8',
      '10.0.0.0/8,,::1',
      'fe80::1%eth0/64',
      '10.0.0.0/ 8',
      '10.0.0.0/08x',
    ]) {
      assert.throws(
        () => AllowList.parse(bad),
        (e: unknown) => e instanceof ConfigError && /^network\.allow: /.test(e.message),
        bad,
      );
    }
    assert.throws(() => AllowList.parse('10.0.0.0/8,nope'), /"nope" is not an IPv4 or IPv6 address/);
    assert.throws(() => AllowList.parse('10.0.0.0/40'), /prefix length must be 0 to 32/);
    assert.equal(String(list(' 10.0.0.0/8 , ::1 ')), '10.0.0.0/8,::1');
  });

  it('decides once per connection', () => {
    const l = list('127.0.0.0/8');
    const socket = { remoteAddress: '127.0.0.1' as string | undefined };
    assert.ok(l.allowsSocket(socket));
    socket.remoteAddress = '10.0.0.1'; // cannot happen to a real socket: shows the cache
    assert.ok(l.allowsSocket(socket));
    assert.ok(!l.allowsSocket({ remoteAddress: undefined }), 'a closed socket (no address) is denied');
    assert.ok(!l.allowsSocket({ remoteAddress: '10.0.0.1' }));
  });

  it('loopback listen hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', 'example.com', 'localhost.example.com'])
      assert.ok(!isLoopbackHost(h), h);
  });
});

describe('network: a node with network.allow', () => {
  const nodes: TestNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('answers 403 DENIED to a client outside the list, before routing', async () => {
    const node = await startTestNode({ network: { allow: '10.0.0.0/8' } });
    nodes.push(node);
    for (const [method, path] of [
      ['GET', '/v2/'],
      ['GET', '/v2/team/app/manifests/v1'],
      ['PUT', '/georeg/v1/trust/policy'],
      ['GET', '/no/such/route'],
    ]) {
      const res = await http(method as string, `${node.url}${path as string}`);
      assert.equal(res.status, 403, `${method} ${path}`);
      const body = res.json<{ errors: { code: string; message: string; detail: unknown }[] }>();
      assert.deepEqual(body.errors[0], { code: 'DENIED', message: 'client address not allowed', detail: { address: '127.0.0.1' } });
      assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
      assert.ok(res.header('x-request-id'));
    }
  });

  it('serves a client inside the list', async () => {
    const node = await startTestNode({ network: { allow: '127.0.0.0/8' } });
    nodes.push(node);
    const res = await http('GET', `${node.url}/v2/`);
    assert.equal(res.status, 200);
    const keepAlive = await http('GET', `${node.url}/v2/_catalog`);
    assert.equal(keepAlive.status, 200);
  });

  it('matches an IPv4 client of a dual-stack listener (::ffff:127.0.0.1) against IPv4 rules', async function () {
    let node: TestNode;
    try {
      node = await startTestNode({ listen: '[::]:0', insecureHttp: true, network: { allow: '127.0.0.1/32' } });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAFNOSUPPORT' || (e as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') this.skip();
      throw e;
    }
    nodes.push(node);
    const port = new URL(node.url).port;
    const res = await http('GET', `http://127.0.0.1:${port}/v2/`);
    assert.equal(res.status, 200);
    const other = await startTestNode({ listen: '[::]:0', insecureHttp: true, network: { allow: '10.0.0.0/8' } });
    nodes.push(other);
    const denied = await http('GET', `http://127.0.0.1:${new URL(other.url).port}/v2/`);
    assert.equal(denied.status, 403);
    assert.deepEqual(
      denied.json<{ errors: { detail: unknown }[] }>().errors[0]?.detail,
      { address: '::ffff:127.0.0.1' },
      'the client address as Node reports it',
    );
  });

  it('an invalid CIDR stops the node at start with a ConfigError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-network-'));
    try {
      await assert.rejects(
        startTestNode({ network: { allow: '10.0.0.0/8,10.0.0.300/32' } }, dir),
        (e: unknown) => e instanceof ConfigError && /network\.allow: "10\.0\.0\.300\/32"/.test(e.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
