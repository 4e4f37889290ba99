/**
 * Runs the real skopeo binary with a private, empty blob-info cache, so a rerun really uploads
 * instead of cross-repo mounting what an earlier run left in the shared cache.
 *  - root: skopeo always uses /var/lib/containers/cache, so run it in a private mount namespace
 *    (`unshare -m`) with a temp dir bind-mounted there (as ../shared/tools/skopeo-interop.sh does);
 *  - otherwise: XDG_DATA_HOME=<temp dir> (skopeo then uses $XDG_DATA_HOME/containers/cache).
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from 'georeg/oci';

export class SkopeoError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(`skopeo ${args.join(' ')} failed (${code}):\n${stderr.trim() || stdout.trim()}`, { cause });
    this.name = 'SkopeoError';
  }
}

/** Run `fn`, which must fail with a SkopeoError; returns it. */
export async function skopeoFails(fn: () => Promise<unknown>, what: string): Promise<SkopeoError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SkopeoError) return err;
    throw err;
  }
  throw new Error(`${what}: skopeo succeeded, expected a failure`);
}

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

function exec(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ err: ExecFileException | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: opts.env, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    );
  });
}

export class Skopeo {
  private constructor(
    private readonly cacheDir: string,
    private readonly isolation: 'unshare' | 'xdg',
    readonly timeoutMs: number,
  ) {}

  /** `cacheDir` is created; the caller removes it. */
  static async create(cacheDir: string, timeoutMs = 120_000): Promise<Skopeo> {
    await mkdir(cacheDir, { recursive: true });
    let isolation: 'unshare' | 'xdg' = 'xdg';
    if (process.getuid?.() === 0) {
      await mkdir('/var/lib/containers/cache', { recursive: true });
      // unshare needs CAP_SYS_ADMIN, which some containers lack: probe once.
      const probe = await exec('unshare', unshareArgs(cacheDir, ['true']), { timeoutMs: 10_000 });
      if (probe.err) {
        throw new Error(
          `running as root but \`unshare -m\` failed (${probe.err.message.trim()}): cannot give skopeo a private ` +
            `blob-info cache (root always uses /var/lib/containers/cache)`,
        );
      }
      isolation = 'unshare';
    }
    return new Skopeo(cacheDir, isolation, timeoutMs);
  }

  async run(args: string[], timeoutMs = this.timeoutMs): Promise<RunResult> {
    const t0 = Date.now();
    const r =
      this.isolation === 'unshare'
        ? await exec('unshare', unshareArgs(this.cacheDir, ['skopeo', ...args]), { timeoutMs })
        : await exec('skopeo', args, { env: { ...process.env, XDG_DATA_HOME: this.cacheDir }, timeoutMs });
    if (r.err) {
      const code = r.err.signal
        ? `signal ${r.err.signal}${r.err.signal === 'SIGKILL' ? `, timeout ${timeoutMs} ms?` : ''}`
        : (r.err.code ?? null);
      throw new SkopeoError(args, code, r.stdout, r.stderr, r.err);
    }
    return { stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
  }

  async json<T = unknown>(args: string[]): Promise<T> {
    const { stdout } = await this.run(args);
    try {
      return JSON.parse(stdout) as T;
    } catch (err) {
      throw new Error(`skopeo ${args.join(' ')}: output is not JSON: ${stdout.slice(0, 500)}`, { cause: err });
    }
  }
}

function unshareArgs(cacheDir: string, cmd: string[]): string[] {
  return ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /var/lib/containers/cache && exec "$@"', cacheDir, ...cmd];
}

export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

const REF_NAME = 'org.opencontainers.image.ref.name';

/** The descriptor an OCI layout's index.json has for `tag`. */
export async function layoutRef(layoutDir: string, tag: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as OciIndex;
  const found = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`${layoutDir}: no ref ${tag} in index.json`);
  return found;
}

/** A blob of an OCI layout, raw. */
export function layoutBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const [alg, hex] = digest.split(':');
  return readFile(join(layoutDir, 'blobs', alg as string, hex as string));
}
