/**
 * Which credentials a command sends to a registry: the login stored for its host (`georeg login`,
 * or docker/podman/skopeo login), else `GEOREG_PASSWORD` (for `GEOREG_USERNAME`, `admin` when unset,
 * as the user and token commands have always taken it), else
 * `GEOREG_CREDS=USER:PASSWORD` (the previous release's variable), else none (anonymous).
 * Never a flag: flags end up in shell history.
 */
import { CliError } from './command.js';
import { findLogin, type Credentials } from './auth-file.js';

export type { Credentials };

/** Credentials from the environment, if it holds any. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  if (env.GEOREG_PASSWORD !== undefined) return { username: env.GEOREG_USERNAME ?? 'admin', password: env.GEOREG_PASSWORD };
  const v = env.GEOREG_CREDS;
  if (!v) return undefined;
  const i = v.indexOf(':');
  if (i <= 0) throw new CliError('GEOREG_CREDS must be USER:PASSWORD');
  return { username: v.slice(0, i), password: v.slice(i + 1) };
}

/** The credentials for the registry at `base` (`http(s)://HOST[:PORT]`), as the module comment orders them. */
export async function credentialsFor(base: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  return (await findLogin(new URL(base).host, env))?.credentials ?? credentialsFromEnv(env);
}

/** What to say when a registry wants credentials and none were sent. */
export const LOGIN_HINT =
  'log in with `georeg login REGISTRY --username NAME --password-stdin`, or set GEOREG_USERNAME and GEOREG_PASSWORD';
