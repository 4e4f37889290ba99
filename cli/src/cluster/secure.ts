import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDevCerts } from '../commands/certs.js';

/** What `georeg cluster --secure` sets up: TLS, mutual TLS between regions, token auth, NATS credentials. */
export interface SecureCluster {
  /** CA the nodes' certificates chain to (clients must trust it). */
  caFile: string;
  ca: Buffer;
  /** Environment of every node. */
  env: Record<string, string>;
  nats: { user: string; password: string };
  /** Where the administrator's password is (given in GEOREG_ADMIN_PASSWORD, or generated). */
  adminPasswordFile: string;
}

const write = (file: string, text: string): Promise<void> => writeFile(file, text, { mode: 0o600 });

/**
 * Throwaway secrets for a local secure cluster, under `data`: dev certificates
 * (nodes serve HTTPS; regions replicate over mutual TLS), one token signing key
 * for every region, a NATS password, and the administrator's password.
 */
export async function secureCluster(data: string, env: NodeJS.ProcessEnv = process.env): Promise<SecureCluster> {
  const certs = join(data, 'certs');
  await writeDevCerts(certs, 'localhost,127.0.0.1,::1', 30, true);
  const signingKey = join(data, 'auth-signing.key');
  await write(
    signingKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  const nats = { user: 'georeg', password: randomBytes(24).toString('base64url') };
  const natsPasswordFile = join(data, 'nats-password');
  await write(natsPasswordFile, nats.password);
  const adminPasswordFile = join(data, 'admin-password');
  const admin = env.GEOREG_ADMIN_PASSWORD || randomBytes(18).toString('base64url');
  await write(adminPasswordFile, admin);
  const caFile = join(certs, 'ca.pem');
  return {
    caFile,
    ca: await readFile(caFile),
    nats,
    adminPasswordFile,
    env: {
      GEOREG_TLS_CERT: join(certs, 'server.pem'),
      GEOREG_TLS_KEY: join(certs, 'server.key'),
      GEOREG_AUTH_ENABLED: 'true',
      GEOREG_AUTH_SIGNING_KEY_FILE: signingKey,
      GEOREG_ADMIN_PASSWORD: admin,
      GEOREG_REPLICATION_TLS_CA: caFile,
      GEOREG_REPLICATION_TLS_CERT: join(certs, 'client.pem'),
      GEOREG_REPLICATION_TLS_KEY: join(certs, 'client.key'),
      GEOREG_NATS_USER: nats.user,
      GEOREG_NATS_PASSWORD_FILE: natsPasswordFile,
    },
  };
}
