import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectCleanFailure, georeg } from './support/run.js';

const FILES = ['ca.pem', 'ca.key', 'server.pem', 'server.key', 'client.pem', 'client.key'];

function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, { encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('cli: georeg certs dev', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'georeg-certs-test-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes a CA, a server and a client certificate that openssl verifies, with 0600 keys', async () => {
    const out = join(tmp, 'default', 'nested');
    const run = await georeg(['certs', 'dev', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    for (const f of FILES) {
      const st = await stat(join(out, f));
      assert.equal(st.mode & 0o777, f.endsWith('.key') ? 0o600 : 0o644, `${f} mode ${(st.mode & 0o777).toString(8)}`);
    }
    assert.match(run.stdout, /GEOREG_TLS_CERT=.*server\.pem GEOREG_TLS_KEY=.*server\.key/);
    assert.match(run.stdout, /NODE_EXTRA_CA_CERTS=.*ca\.pem/);
    assert.match(run.stdout, /--cert-dir/);

    for (const leaf of ['server.pem', 'client.pem']) {
      const v = await openssl(['verify', '-CAfile', join(out, 'ca.pem'), join(out, leaf)]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`${leaf}: OK`));
    }
    const ca = new X509Certificate(await readFile(join(out, 'ca.pem')));
    const server = new X509Certificate(await readFile(join(out, 'server.pem')));
    const client = new X509Certificate(await readFile(join(out, 'client.pem')));
    assert.equal(ca.ca, true);
    assert.equal(server.ca, false);
    assert.ok(server.verify(ca.publicKey) && client.verify(ca.publicKey));
    assert.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkIP('::1'), '::1');
    assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
    assert.deepEqual(
      client.keyUsage,
      ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      'serverAuth and clientAuth: the peer certificate of mutual TLS',
    );
    assert.equal(client.subject, 'CN=georeg-peer');
    // Each key belongs to its certificate.
    for (const name of ['ca', 'server', 'client']) {
      const cert = new X509Certificate(await readFile(join(out, `${name}.pem`)));
      assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(out, `${name}.key`)))), name);
    }
    const days = (Date.parse(server.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days <= 365.1, `valid ${days} days`);
    const purpose = await openssl(['x509', '-in', join(out, 'server.pem'), '-noout', '-ext', 'basicConstraints,keyUsage']);
    assert.match(purpose.stdout, /CA:FALSE/);
    assert.match(purpose.stdout, /Digital Signature/);
  });

  it('--hosts puts DNS names and IP addresses in the subjectAltNames; --days sets the validity', async () => {
    const out = join(tmp, 'hosts');
    const run = await georeg([
      'certs',
      'dev',
      '--out',
      out,
      '--hosts',
      'registry.test, *.eu.registry.test,10.1.2.3,[fd00::5]',
      '--days',
      '7',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const server = new X509Certificate(await readFile(join(out, 'server.pem')));
    assert.equal(server.subjectAltName, 'DNS:registry.test, DNS:*.eu.registry.test, IP Address:10.1.2.3, IP Address:FD00:0:0:0:0:0:0:5');
    assert.equal(server.subject, 'CN=registry.test');
    assert.equal(server.checkHost('a.eu.registry.test'), '*.eu.registry.test');
    assert.equal(server.checkHost('localhost'), undefined);
    const days = (Date.parse(server.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 6 && days <= 7.1, `valid ${days} days`);
  });

  it('refuses to overwrite without --force, and with --force writes new keys with mode 0600', async () => {
    const out = join(tmp, 'overwrite');
    assert.equal((await georeg(['certs', 'dev', '--out', out])).code, 0);
    const before = await readFile(join(out, 'server.key'), 'utf8');
    const again = await georeg(['certs', 'dev', '--out', out]);
    expectCleanFailure(
      again,
      2,
      /georeg certs: ca\.pem, ca\.key, server\.pem, server\.key, client\.pem, client\.key exist in .* \(use --force to overwrite\)/,
    );
    assert.equal(await readFile(join(out, 'server.key'), 'utf8'), before, 'nothing overwritten');

    const other = join(tmp, 'one-file');
    assert.equal((await georeg(['certs', 'dev', '--out', other, '--days', '1'])).code, 0);
    for (const f of FILES) if (f !== 'server.key') await rm(join(other, f));
    expectCleanFailure(await georeg(['certs', 'dev', '--out', other]), 2, /server\.key exists in .* \(use --force/);

    await chmod(join(out, 'server.key'), 0o644);
    const forced = await georeg(['certs', 'dev', '--out', out, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(await readFile(join(out, 'server.key'), 'utf8'), before);
    assert.equal((await stat(join(out, 'server.key'))).mode & 0o777, 0o600);
    const v = await openssl(['verify', '-CAfile', join(out, 'ca.pem'), join(out, 'server.pem')]);
    assert.equal(v.code, 0, v.stderr);
  });

  it('usage errors exit 2 with a message', async () => {
    expectCleanFailure(await georeg(['certs', 'dev']), 2, /--out DIR is required/);
    expectCleanFailure(await georeg(['certs', 'make', '--out', tmp]), 2, /expected `certs dev`/);
    expectCleanFailure(
      await georeg(['certs', 'dev', '--out', join(tmp, 'x'), '--days', '0']),
      2,
      /--days must be a whole number from 1 to 3650/,
    );
    expectCleanFailure(await georeg(['certs', 'dev', '--out', join(tmp, 'x'), '--days', '1e3']), 2, /--days must be/);
    expectCleanFailure(
      await georeg(['certs', 'dev', '--out', join(tmp, 'x'), '--hosts', 'ok.test,bad host\nsubjectAltName=DNS:evil']),
      2,
      /--hosts: .* is neither an IP address nor a DNS name/,
    );
    expectCleanFailure(await georeg(['certs', 'dev', '--out', join(tmp, 'x'), '--hosts', ' , ']), 2, /--hosts must name at least one host/);
    const help = await georeg(['certs', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: georeg certs dev --out DIR/);
    const list = await georeg(['--help']);
    assert.match(list.stdout, /certs +make a throwaway CA/);
  });
});
