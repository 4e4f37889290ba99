import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { listeningUrl } from 'georeg/test-support';
import { cliMain, repoRoot, type LogRecord } from './process.js';

/** The environment without the GEOREG_* settings (and extra CAs) of whoever runs the tests, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GEOREG_') && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return { ...env, ...extra };
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `file args...` (the georeg CLI, podman, ...) to completion in a clean environment, `stdin` on its standard input. */
export function runProcess(file: string, args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: repoRoot, env: cleanEnv(env), timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/** Run `node args...` to completion in a clean environment. */
export function runNode(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runProcess(process.execPath, args, env);
}

/** Run `georeg args...` to completion in a clean environment, `stdin` on its standard input. */
export function georegCli(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Ran> {
  return runProcess(process.execPath, [cliMain, ...args], env, stdin);
}

/**
 * `georeg serve` as a child process, for nodes GeoregNode cannot start (HTTPS,
 * refused configurations): its output is the JSON log, with the access log.
 */
export class ServeProcess {
  output = '';
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => (this.output += c));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => (this.output += c));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static spawn(args: string[], env: Record<string, string>): ServeProcess {
    return new ServeProcess(
      spawn(process.execPath, [cliMain, 'serve', ...args], {
        cwd: repoRoot,
        env: cleanEnv({ GEOREG_LOG_ACCESS: 'true', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }

  /** Resolves with the node's URL once it logs "registry listening" (with --listen HOST:0, the port it chose). */
  async listening(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const url = listeningUrl(this.output);
      if (url) return url;
      if (exited) throw new Error(`georeg serve exited before listening:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`georeg serve did not listen within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Access-log records written after character offset `since` of the output. */
  requests(since = 0): LogRecord[] {
    return this.output
      .slice(since)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogRecord)
      .filter((r) => r.msg === 'request');
  }

  /** `METHOD path -> status`, one line per request since `since`. */
  summary(since = 0): string {
    return this.requests(since)
      .map((r) => `${String(r['method'])} ${String(r['path'])} -> ${String(r['status'])}`)
      .join('\n');
  }

  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
