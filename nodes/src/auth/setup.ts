import { generateKeyPairSync } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Identities } from './identities.js';
import { ROLES } from './scopes.js';
import { AuthService } from './service.js';

/** The token signing key: the configured file, else one kept in the data directory (created once, mode 0600). */
async function signingKey(config: Config, log: Logger): Promise<string> {
  const file = config.auth.signingKeyFile || join(config.data, 'auth-signing.key');
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || config.auth.signingKeyFile)
      throw new ConfigError(`auth.signingKeyFile: cannot read ${file}: ${(e as Error).message}`);
  }
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Written aside and linked into place: never a half-written key, never one replaced under a running node.
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, pem, { mode: 0o600 });
  try {
    await link(temp, file);
  } finally {
    await unlink(temp);
  }
  log.warn('generated a token signing key for this node only; give every region the same auth.signingKeyFile so tokens work everywhere', {
    file,
  });
  return pem;
}

/**
 * The auth service a config asks for (undefined when auth is off). With no
 * user yet, the administrator `admin` is created from GEOREG_ADMIN_PASSWORD,
 * which must then be set: a registry with auth on and nobody to manage it
 * would be locked. It is stamped as the oldest change, so a region joining a
 * cluster takes the cluster's users rather than resetting them. Users stored
 * before roles existed are named in a warning: they keep their old access.
 *
 * With auth on, traffic between regions must be authenticated too: peers are
 * trusted with identities and content, so the replication port needs mutual
 * TLS and NATS needs credentials.
 */
export async function setUpAuth(
  config: Config,
  identities: Identities,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AuthService | undefined> {
  if (!config.auth.enabled) return undefined;
  const { replication, nats } = config;
  if (replication.listen && !(replication.tlsCa && replication.tlsCert && replication.tlsKey)) {
    throw new ConfigError(
      'auth.enabled with replication.listen needs mutual TLS between regions (replication.tlsCa, tlsCert, tlsKey): peers receive identities and content',
    );
  }
  if (nats.url && !(nats.user && nats.passwordFile)) {
    throw new ConfigError(
      'auth.enabled with nats.url needs NATS credentials (nats.user, nats.passwordFile): whoever can publish events can change identities',
    );
  }
  let auth: AuthService;
  try {
    auth = new AuthService(
      identities,
      { ...config.auth, publicUrl: config.publicUrl, blobUrlTtlSeconds: config.replication.redirectTtlSeconds },
      await signingKey(config, log),
      log,
    );
  } catch (e) {
    throw e instanceof ConfigError ? e : new ConfigError(`auth: ${(e as Error).message}`);
  }
  if (!(await auth.identities.hasUsers())) {
    const password = env.GEOREG_ADMIN_PASSWORD;
    if (!password)
      throw new ConfigError(
        'auth.enabled with no users yet: set GEOREG_ADMIN_PASSWORD (at least 12 characters) to create the administrator "admin"',
      );
    try {
      await auth.identities.addUser('admin', password, true, { bootstrap: true });
    } catch (e) {
      throw new ConfigError(`GEOREG_ADMIN_PASSWORD: ${(e as Error).message}`);
    }
    log.info('created the administrator "admin"');
  }
  await warnLegacyUsers(auth.identities, log);
  return auth;
}

/** Name each user stored before roles existed (they keep push and delete everywhere), and how to narrow it. */
async function warnLegacyUsers(identities: Identities, log: Logger): Promise<void> {
  for (const user of await identities.legacyUsers()) {
    log.warn(`user "${user}" has no roles (stored before roles existed): it keeps push and delete on every repository until given roles`, {
      user,
      narrow: `georeg user update ${user} --role 'REPO-GLOB:ROLE[,ROLE]' (roles: ${Object.keys(ROLES).join(', ')})`,
    });
  }
}
