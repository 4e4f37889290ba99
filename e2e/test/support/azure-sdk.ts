/**
 * What the Azure SDK tests share: a `georeg serve` over HTTPS (a throwaway CA from `georeg certs
 * dev`) with authentication on, HTTPS JSON calls trusting that CA, ACR-style scoped tokens through
 * the admin API, and the credential that hands the SDK a georeg refresh token.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { ContainerRegistryContentClient } from '@azure/container-registry';
import { apiPaths } from 'georeg/oci';
import { portOf } from 'georeg/test-support';
import { cliMain } from './process.js';
import { runNode as run, ServeProcess } from './serve.js';

export type TokenCredential = ConstructorParameters<typeof ContainerRegistryContentClient>[2];

export const ADMIN_PASSWORD = 'an administrator password for the SDK test';

/** One HTTPS request trusting `ca`; JSON in and out. */
export function httpsJson(
  url: string,
  ca: string,
  opts: { method?: string; auth?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {};
    if (opts.auth) headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    if (payload) headers['Content-Type'] = 'application/json';
    const req = httpsRequest(url, { method: opts.method ?? 'GET', ca, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body: body as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** A node over HTTPS with authentication on, anonymous pull on `public/**`; `endpoint` names it as its certificate does. */
export interface SecureNode {
  node: ServeProcess;
  endpoint: string;
  ca: string;
  caFile: string;
  port: number;
}

export async function startSecureNode(tmp: string): Promise<SecureNode> {
  if (!existsSync(cliMain)) throw new Error(`${cliMain} not built: run \`npx tsc -b\` first`);
  const certs = join(tmp, 'certs');
  const made = await run([cliMain, 'certs', 'dev', '--out', certs]);
  assert.equal(made.code, 0, made.stderr);
  const caFile = join(certs, 'ca.pem');
  const data = await mkdtemp(join(tmp, 'data-'));
  const node = ServeProcess.spawn(['--listen', '127.0.0.1:0', '--data', data], {
    GEOREG_TLS_CERT: join(certs, 'server.pem'),
    GEOREG_TLS_KEY: join(certs, 'server.key'),
    GEOREG_AUTH_ENABLED: 'true',
    GEOREG_ADMIN_PASSWORD: ADMIN_PASSWORD,
    GEOREG_AUTH_ANONYMOUS_PULL: 'public/**',
  });
  const listening = await node.listening();
  assert.match(listening, /^https:\/\/127\.0\.0\.1:\d+$/);
  const port = portOf(listening);
  // localhost is in the dev certificate's names
  return { node, endpoint: `https://localhost:${port}`, ca: await readFile(caFile, 'utf8'), caFile, port };
}

/** An ACR-style token with a scope map, made with the administrator's Basic credentials; returns its secret. */
export async function createToken(n: SecureNode, name: string, scopes: { repositories: string[]; actions: string[] }[]): Promise<string> {
  const created = await httpsJson(`${n.endpoint}${apiPaths.tokens()}`, n.ca, {
    method: 'POST',
    auth: `admin:${ADMIN_PASSWORD}`,
    body: { name, scopes },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const secret = created.body.secret;
  assert.ok(typeof secret === 'string' && secret !== '');
  return secret;
}

/**
 * A credential handing the SDK a georeg refresh token: a fresh one (Basic → GET
 * /oauth2/token?offline_token=true) per call; the scopes of each call are pushed to `calls`.
 */
export function refreshTokenCredential(
  n: Pick<SecureNode, 'endpoint' | 'ca'>,
  name: string,
  secret: string,
  calls: string[][] = [],
): TokenCredential {
  return {
    async getToken(scopes) {
      calls.push(Array.isArray(scopes) ? scopes : [scopes]);
      const res = await httpsJson(`${n.endpoint}${apiPaths.oauthToken()}?service=georeg&offline_token=true`, n.ca, {
        auth: `${name}:${secret}`,
      });
      if (res.status !== 200 || typeof res.body?.refresh_token !== 'string')
        throw new Error(`refresh token: ${res.status} ${JSON.stringify(res.body)}`);
      const token = res.body.refresh_token as string;
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { exp: number };
      return { token, expiresOnTimestamp: exp * 1000 };
    },
  };
}
