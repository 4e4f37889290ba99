import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '../config.js';

/** Credentials for NATS from the config: none, or `nats.user` with the password read from `nats.passwordFile`. */
export function natsAuth(config: Pick<Config, 'nats'>): { user?: string; pass?: string } {
  const { user, passwordFile } = config.nats;
  if (!user && !passwordFile) return {};
  if (!user || !passwordFile) throw new ConfigError('nats.user and nats.passwordFile go together');
  try {
    return { user, pass: readFileSync(passwordFile, 'utf8').trim() };
  } catch (e) {
    throw new ConfigError(`nats.passwordFile: cannot read ${passwordFile}: ${(e as Error).message}`);
  }
}
