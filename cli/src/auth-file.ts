/**
 * Logins where container tools keep them: the Docker config format (`{"auths": {"HOST[:PORT]":
 * {"auth": base64("user:password")}}}`), looked up in the files and order skopeo, podman and
 * the other containers/image tools use, and stored in the one every such tool reads, Docker's
 * (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`), or in `REGISTRY_AUTH_FILE`
 * when it is set. Files are written whole (temporary file, then rename) with mode 0600, keeping
 * everything else in them.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './command.js';

/** Registry credentials: a user or token name and its secret. */
export interface Credentials {
  username: string;
  password: string;
}

interface AuthDocument {
  auths?: Record<string, { auth?: string; [k: string]: unknown }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** Where a login is stored. */
export function storeFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
}

/** The files a login is looked up in, first match wins (containers-auth.json(5), then Docker's). */
export function lookupFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const home = env.HOME ?? homedir();
  const uid = process.getuid?.();
  const runtime = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'containers') : uid === undefined ? undefined : `/run/containers/${uid}`;
  const files = [
    ...(runtime ? [join(runtime, 'auth.json')] : []),
    join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'),
    storeFile(env),
  ];
  return [...new Set(files)];
}

async function readDocument(file: string): Promise<AuthDocument | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read the login file ${file}: ${(e as Error).message}`);
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as AuthDocument;
  } catch (e) {
    throw new CliError(`the login file ${file} is not valid JSON (${(e as Error).message}): fix or remove it`);
  }
}

/** `auth` of an entry: base64 of `user:password`. */
function decode(auth: string): Credentials | undefined {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i > 0 ? { username: text.slice(0, i), password: text.slice(i + 1) } : undefined;
}

/** The stored login for registry `host` (`HOST[:PORT]`) and the file it came from, if any. */
export async function findLogin(
  host: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ credentials: Credentials; file: string } | undefined> {
  for (const file of lookupFiles(env)) {
    const auth = (await readDocument(file))?.auths?.[host]?.auth;
    const credentials = auth === undefined ? undefined : decode(auth);
    if (credentials) return { credentials, file };
  }
  return undefined;
}

async function writeDocument(file: string, doc: AuthDocument): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.georeg-${process.pid}`;
  await writeFile(tmp, JSON.stringify(doc, null, '\t') + '\n', { mode: 0o600 });
  await rename(tmp, file);
}

/** Store a login for `host`; returns the file, and a note when Docker would ask a credential helper instead. */
export async function storeLogin(
  host: string,
  c: Credentials,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ file: string; note?: string }> {
  const file = storeFile(env);
  const doc = (await readDocument(file)) ?? {};
  doc.auths = { ...doc.auths, [host]: { ...doc.auths?.[host], auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') } };
  await writeDocument(file, doc);
  const helper = doc.credHelpers?.[host] ?? doc.credsStore;
  return {
    file,
    ...(helper && {
      note: `docker itself asks its credential helper "${helper}" (set in ${file}); georeg, skopeo and podman read the login stored here`,
    }),
  };
}

/** Remove the login for `host` from every file that holds one; returns those files. */
export async function removeLogin(host: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const removed: string[] = [];
  for (const file of lookupFiles(env)) {
    const doc = await readDocument(file);
    if (!doc?.auths?.[host]) continue;
    const { [host]: _gone, ...rest } = doc.auths;
    await writeDocument(file, { ...doc, auths: rest });
    removed.push(file);
  }
  return removed;
}
