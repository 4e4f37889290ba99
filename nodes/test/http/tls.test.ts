import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config.js';
import { serverTlsOptions } from '../../src/http/tls.js';
import { startTestNode, type TestNode } from '../support/harness.js';
import { http } from '../support/client.js';

// This file runs as nodes/dist/test/http/tls.test.js; `georeg certs dev` is the built CLI.
const cliMain = fileURLToPath(new URL('../../../../cli/dist/src/main.js', import.meta.url));

function devCerts(out: string): Promise<void> {
  if (!existsSync(cliMain)) throw new Error(`${cliMain} not built: run \`npx tsc -b\` first`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliMain, 'certs', 'dev', '--out', out], (err, _stdout, stderr) =>
      err ? reject(new Error(`georeg certs dev failed: ${stderr}`)) : resolve(),
    );
  });
}

interface HttpsResult {
  status: number;
  body: string;
  protocol: string | null;
}

/** GET over HTTPS trusting `ca` only (Node 20's fetch takes no CA). */
function httpsGet(url: string, ca?: Buffer | string, servername?: string): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, servername, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol: (res.socket as TLSSocket).getProtocol?.() ?? null }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('http: TLS', () => {
  let certs: string;
  let ca: string;
  const cert = (): string => join(certs, 'server.pem');
  const key = (): string => join(certs, 'server.key');
  const nodes: TestNode[] = [];
  let tlsNode: TestNode;

  before(async () => {
    certs = await mkdtemp(join(tmpdir(), 'georeg-tls-'));
    await devCerts(certs);
    ca = await readFile(join(certs, 'ca.pem'), 'utf8');
    tlsNode = await startTestNode({ tls: { cert: cert(), key: key() } });
    nodes.push(tlsNode);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await rm(certs, { recursive: true, force: true });
  });

  /** Start must fail with a ConfigError matching `message`; no data dir is left behind. */
  async function refuses(overrides: Parameters<typeof startTestNode>[0], message: RegExp): Promise<ConfigError> {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-tls-node-'));
    try {
      let caught: unknown;
      await startTestNode(overrides, dir).then(
        async (n) => n.close(),
        (e: unknown) => (caught = e),
      );
      assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
      assert.match(caught.message, message);
      return caught;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('serves HTTPS with the configured certificate (url https://...), TLS 1.2 or later', async () => {
    const node = tlsNode;
    assert.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await httpsGet(`${node.url}/v2/`, ca);
    assert.equal(res.status, 200);
    assert.equal(res.body, '{}');
    assert.ok(res.protocol === 'TLSv1.3' || res.protocol === 'TLSv1.2', String(res.protocol));
    const port = new URL(node.url).port;
    assert.equal((await httpsGet(`https://localhost:${port}/v2/`, ca)).status, 200, 'the dev certificate names localhost');
  });

  it('a client without the CA does not trust it; a plain-HTTP request to the TLS port fails', async () => {
    const node = tlsNode;
    await assert.rejects(httpsGet(`${node.url}/v2/`), (e: NodeJS.ErrnoException) =>
      /UNABLE_TO_VERIFY|SELF_SIGNED|unable to (get|verify)/i.test(`${e.code} ${e.message}`),
    );
    await assert.rejects(http('GET', node.url.replace('https://', 'http://') + '/v2/'), (e: NodeJS.ErrnoException) =>
      /ECONNRESET|socket hang up|Parse Error|HPE_/i.test(`${e.code} ${e.message}`),
    );
    // Still serving afterwards.
    assert.equal((await httpsGet(`${node.url}/v2/`, ca)).status, 200);
  });

  it('network.allow applies over HTTPS too', async () => {
    const node = await startTestNode({ tls: { cert: cert(), key: key() }, network: { allow: '10.0.0.0/8' } });
    nodes.push(node);
    const res = await httpsGet(`${node.url}/v2/`, ca);
    assert.equal(res.status, 403);
    assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]?.code, 'DENIED');
  });

  it('one of tls.cert and tls.key without the other is a ConfigError', async () => {
    await refuses({ tls: { cert: cert(), key: '' } }, /^tls\.cert is set but tls\.key is not/);
    await refuses({ tls: { cert: '', key: key() } }, /^tls\.key is set but tls\.cert is not/);
  });

  it('plain HTTP on a non-loopback address without insecureHttp is a ConfigError explaining both ways out', async () => {
    const e = await refuses({ listen: '0.0.0.0:0' }, /refusing to serve plain HTTP on 0\.0\.0\.0:0, which is not a loopback address/);
    assert.match(e.message, /tls\.cert and tls\.key/);
    assert.match(e.message, /GEOREG_TLS_CERT/);
    assert.match(e.message, /insecureHttp: true \(GEOREG_INSECURE_HTTP=true\)/);
    await refuses({ listen: '[::]:0' }, /refusing to serve plain HTTP on \[::\]:0/);
  });

  it('unreadable or invalid PEM files are ConfigErrors naming the file', async () => {
    const garbage = join(certs, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    await refuses({ tls: { cert: join(certs, 'missing.pem'), key: key() } }, /^tls\.cert: cannot read .*missing\.pem: ENOENT/);
    await refuses({ tls: { cert: cert(), key: join(certs, 'missing.key') } }, /^tls\.key: cannot read .*missing\.key: ENOENT/);
    await refuses(
      { tls: { cert: garbage, key: key() } },
      new RegExp(`^tls\\.cert ${garbage.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a PEM certificate`),
    );
    await refuses({ tls: { cert: key(), key: key() } }, /^tls\.cert .*server\.key: not a PEM certificate/);
    await refuses({ tls: { cert: cert(), key: garbage } }, /^tls\.key .*garbage\.pem: not an unencrypted PEM private key/);
    await refuses(
      { tls: { cert: join(certs, 'client.pem'), key: key() } },
      /^tls\.key .*server\.key does not match the certificate in tls\.cert .*client\.pem \(CN=georeg-peer\)/,
    );
  });

  it('insecureHttp: true allows plain HTTP on 0.0.0.0', async () => {
    const node = await startTestNode({ listen: '0.0.0.0:0', insecureHttp: true });
    nodes.push(node);
    assert.match(node.url, /^http:\/\/0\.0\.0\.0:\d+$/);
    const res = await http('GET', `http://127.0.0.1:${new URL(node.url).port}/v2/`);
    assert.equal(res.status, 200);
  });

  it('plain HTTP on loopback needs no setting (the quick start); TLS settings come from GEOREG_* too', () => {
    for (const listen of ['127.0.0.1:5000', '127.0.0.2:5000', 'localhost:5000', '[::1]:5000']) {
      assert.equal(serverTlsOptions({ listen, tls: { cert: '', key: '' }, insecureHttp: false }), undefined, listen);
    }
    const config = loadConfig({
      env: { GEOREG_TLS_CERT: cert(), GEOREG_TLS_KEY: key(), GEOREG_INSECURE_HTTP: 'true', GEOREG_NETWORK_ALLOW: '10.0.0.0/8' },
    });
    assert.deepEqual(config.tls, { cert: cert(), key: key() });
    assert.equal(config.insecureHttp, true);
    assert.equal(config.network.allow, '10.0.0.0/8');
    const options = serverTlsOptions(config);
    assert.equal(options?.minVersion, 'TLSv1.2');
    assert.throws(() => loadConfig({ env: { GEOREG_INSECURE_HTTP: 'maybe' } }), /GEOREG_INSECURE_HTTP: insecureHttp must be true or false/);
  });
});
