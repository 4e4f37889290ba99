/**
 * HTTPS for the registry API: the configured certificate and key, checked at start, or plain
 * HTTP where that is safe (a loopback listen address) or explicitly allowed (`insecureHttp`).
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import { ConfigError, parseListen, type Config } from '../config.js';
import { isLoopbackHost } from './network.js';

export type TlsSettings = Pick<Config, 'listen' | 'tls' | 'insecureHttp'>;

/**
 * The `https.ServerOptions` for `tls.cert` and `tls.key` (PEM files; the certificate file may
 * hold the chain, leaf first), or undefined for plain HTTP. Throws a ConfigError naming the
 * problem: only one of the two set, a file that cannot be read or does not parse, a key that
 * does not match the certificate, or plain HTTP on a non-loopback address without
 * `insecureHttp`.
 */
export function serverTlsOptions(config: TlsSettings): ServerOptions | undefined {
  const { cert, key } = config.tls;
  if (cert === '' && key === '') {
    const { host } = parseListen(config.listen);
    if (config.insecureHttp || isLoopbackHost(host)) return undefined;
    throw new ConfigError(
      `refusing to serve plain HTTP on ${config.listen}, which is not a loopback address. Either serve HTTPS: ` +
        `set tls.cert and tls.key to PEM files (GEOREG_TLS_CERT, GEOREG_TLS_KEY; \`georeg certs dev\` makes ` +
        `throwaway ones for tests), or allow plain HTTP explicitly, e.g. behind a TLS-terminating proxy: ` +
        `insecureHttp: true (GEOREG_INSECURE_HTTP=true)`,
    );
  }
  if (cert === '' || key === '') {
    const [set, missing] = cert === '' ? ['tls.key', 'tls.cert'] : ['tls.cert', 'tls.key'];
    throw new ConfigError(`${set} is set but ${missing} is not: HTTPS needs both the certificate and its private key`);
  }
  const certPem = readPem(cert, 'tls.cert');
  const keyPem = readPem(key, 'tls.key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (e) {
    throw new ConfigError(`tls.cert ${cert}: not a PEM certificate (${(e as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (e) {
    throw new ConfigError(`tls.key ${key}: not an unencrypted PEM private key (${(e as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(`tls.key ${key} does not match the certificate in tls.cert ${cert} (${x509.subject.replace(/\n/g, ', ')})`);
  }
  const options: ServerOptions = { cert: certPem, key: keyPem, minVersion: 'TLSv1.2' };
  try {
    createSecureContext(options); // what https.createServer will do: OpenSSL's own checks (key size, chain)
  } catch (e) {
    throw new ConfigError(`tls.cert ${cert} / tls.key ${key}: unusable for TLS (${(e as Error).message})`);
  }
  return options;
}

function readPem(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(e as Error).message}`);
  }
}
