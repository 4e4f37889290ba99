/**
 * Black-box TLS: `georeg certs dev` makes a throwaway CA and certificates, `georeg serve` (the
 * built CLI, configured through GEOREG_TLS_* or a --config file) serves HTTPS with them, and the
 * real skopeo pushes and inspects over TLS, trusting the CA through a --cert-dir.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { portOf } from 'georeg/test-support';
import { cliMain } from './support/process.js';
import { georegCli as georeg, ServeProcess } from './support/serve.js';
import { layoutRef, Skopeo, skopeoFails } from './support/skopeo.js';

const IMAGES = process.env['IMAGES'] ?? '/tmp/lab-images';
const SMALL = join(IMAGES, 'small');

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS: georeg certs dev, georeg serve over HTTPS, skopeo (e2e, black box)', function () {
  let tmp: string;
  let certs: string;
  let certDir: string;
  let ca: string;
  let skopeo: Skopeo;
  const nodes: ServeProcess[] = [];

  /** `georeg serve` on a port of its choosing with a fresh data dir; resolves with it, its URL and the port. */
  async function serve(args: string[], env: Record<string, string> = {}): Promise<{ node: ServeProcess; url: string; port: number }> {
    const data = await mkdtemp(join(tmp, 'data-'));
    const node = ServeProcess.spawn(['--listen', '127.0.0.1:0', '--data', data, ...args], env);
    nodes.push(node);
    const url = await node.listening();
    return { node, url, port: portOf(url) };
  }

  before(async function () {
    this.timeout(60_000);
    if (!existsSync(cliMain)) throw new Error(`${cliMain} not built: run \`npx tsc -b\` first`);
    if (!existsSync(join(SMALL, 'index.json')))
      throw new Error(`test image ${SMALL} missing: run \`node scripts/ensure-tools.mjs\` (npm pretest)`);
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-tls-'));
    certs = join(tmp, 'certs');
    const made = await georeg(['certs', 'dev', '--out', certs]);
    assert.equal(made.code, 0, made.stderr);
    ca = await readFile(join(certs, 'ca.pem'), 'utf8');
    // skopeo's --cert-dir: CAs as *.crt (a *.key there would need its *.cert client certificate).
    certDir = join(tmp, 'certs.d');
    await mkdir(certDir);
    await copyFile(join(certs, 'ca.pem'), join(certDir, 'ca.crt'));
    skopeo = await Skopeo.create(join(tmp, 'blob-info-cache'));
  });

  after(async function () {
    this.timeout(30_000);
    const codes = await Promise.all(nodes.map((n) => n.stop()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
    for (const code of codes) assert.equal(code, 0, 'georeg serve exits cleanly on SIGTERM');
  });

  it('serves HTTPS with GEOREG_TLS_CERT/GEOREG_TLS_KEY; skopeo copies and inspects with the CA, and fails without it', async function () {
    this.timeout(120_000);
    const { url, port } = await serve([], { GEOREG_TLS_CERT: join(certs, 'server.pem'), GEOREG_TLS_KEY: join(certs, 'server.key') });
    assert.equal(url, `https://127.0.0.1:${port}`);
    assert.equal((await httpsGet(`https://localhost:${port}${apiPaths.base()}`, ca)).status, 200);

    const ref = `docker://localhost:${port}/demo/small:v1`;
    await skopeo.run(['copy', '--dest-cert-dir', certDir, `oci:${SMALL}:latest`, ref]);
    const inspected = await skopeo.json<{ Digest: string }>(['inspect', '--tls-verify=true', '--cert-dir', certDir, ref]);
    assert.equal(inspected.Digest, (await layoutRef(SMALL, 'latest')).digest);

    const untrusted = await skopeoFails(() => skopeo.run(['inspect', '--tls-verify=true', ref]), 'inspect without the CA');
    assert.match(
      untrusted.stderr,
      /x509: certificate signed by unknown authority|certificate is not trusted|tls: failed to verify certificate/,
    );

    // georeg's own commands name the fix: the CA to pass, or the scheme the registry speaks.
    const noCa = await georeg(['where', 'demo/small:v1', '--url', `https://localhost:${port}`]);
    assert.equal(noCa.code, 2);
    assert.match(noCa.stderr, /the registry's certificate is not signed by a CA this machine trusts \(\w+\): pass --ca CA\.pem/);
    const trusted = await georeg(['where', 'demo/small:v1', '--url', `https://localhost:${port}`, '--ca', join(certs, 'ca.pem')]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /complete/);
    const plain = await georeg(['where', 'demo/small:v1', '--url', `http://localhost:${port}`]);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, new RegExp(`does it speak HTTPS\\? give https://localhost:${port}`));
  });

  it('serves HTTPS from a --config file, and network.allow answers others with 403 DENIED and the reason', async function () {
    this.timeout(60_000);
    const config = join(tmp, 'georeg.json');
    await writeFile(
      config,
      JSON.stringify({ tls: { cert: join(certs, 'server.pem'), key: join(certs, 'server.key') }, network: { allow: '10.0.0.0/8' } }),
    );
    const { url, port } = await serve(['--config', config]);
    assert.equal(url, `https://127.0.0.1:${port}`);
    const res = await httpsGet(`${url}${apiPaths.base()}`, ca);
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(res.body), {
      errors: [{ code: 'DENIED', message: 'client address not allowed', detail: { address: '127.0.0.1' } }],
    });
    // skopeo trusts the certificate (no x509 error) and reports the 403 of its first request.
    const denied = await skopeoFails(
      () => skopeo.run(['inspect', '--cert-dir', certDir, `docker://localhost:${port}/demo/small:v1`]),
      'inspect from a denied address',
    );
    assert.match(denied.stderr, /403 \(Forbidden\)/);
    assert.doesNotMatch(denied.stderr, /x509|certificate/);
  });

  it('refuses plain HTTP on a non-loopback address, explaining the two ways out; GEOREG_INSECURE_HTTP=true allows it', async function () {
    this.timeout(60_000);
    const data = await mkdtemp(join(tmp, 'data-'));
    const refused = await georeg(['serve', '--listen', '0.0.0.0:0', '--data', data]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /^georeg serve: refusing to serve plain HTTP on 0\.0\.0\.0:\d+, which is not a loopback address/);
    assert.match(refused.stderr, /tls\.cert and tls\.key/);
    assert.match(refused.stderr, /insecureHttp: true \(GEOREG_INSECURE_HTTP=true\)/);
    assert.doesNotMatch(refused.stderr, /^\s+at /m, 'no stack trace');

    const halfTls = await georeg(['serve', '--listen', '127.0.0.1:0', '--data', data], { GEOREG_TLS_CERT: join(certs, 'server.pem') });
    assert.equal(halfTls.code, 2);
    assert.match(halfTls.stderr, /georeg serve: tls\.cert is set but tls\.key is not/);

    const node = ServeProcess.spawn(['--listen', '0.0.0.0:0', '--data', data], { GEOREG_INSECURE_HTTP: 'true' });
    nodes.push(node);
    const url = await node.listening();
    const port = portOf(url);
    assert.equal(url, `http://0.0.0.0:${port}`);
    const res = await fetch(`http://127.0.0.1:${port}${apiPaths.base()}`);
    assert.equal(res.status, 200);
  });
});
