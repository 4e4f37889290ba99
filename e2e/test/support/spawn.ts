import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';

/** Start a process quietly (access log off), its stderr piped for `ready`. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(cmd, args, { env: { ...process.env, GEOREG_LOG_ACCESS: 'false', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Resolves once the child's stderr matches `line`; rejects if it exits first. */
export function ready(child: ChildProcess, line: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (line.test(seen)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ready: ${seen.slice(-2000)}`)));
  });
}

/** Poll `check` until it returns a value or `ms` pass: across processes there is no event to await. */
export async function poll<T>(ms: number, what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One HTTP request with a body (a Buffer, or chunks streamed with back-pressure); resolves with the status. */
export function send(method: string, url: string, body?: Buffer | Iterable<Buffer>, headers: Record<string, string | number> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (body === undefined || Buffer.isBuffer(body)) return req.end(body);
    const it = body[Symbol.iterator]();
    const pump = (): void => {
      for (let n = it.next(); !n.done; n = it.next()) if (!req.write(Buffer.from(n.value))) return void req.once('drain', pump);
      req.end();
    };
    pump();
  });
}
