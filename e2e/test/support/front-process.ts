import { spawn } from 'node:child_process';
import { cliMain, repoRoot } from './process.js';
import { cleanEnv } from './serve.js';

export interface FrontProcess {
  url: string;
  /** SIGTERM; resolves once it exited. */
  stop(): Promise<void>;
}

/** `georeg front` over `nodes` (base URLs), on a port of its choosing; resolves once it logs "front listening". */
export async function startFrontProcess(nodes: string[]): Promise<FrontProcess> {
  const args = [cliMain, 'front', '--listen', '127.0.0.1:0', ...nodes.flatMap((n) => ['--node', new URL(n).host])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let log = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        log += chunk;
        const m = /"msg":"front listening","url":"([^"]+)"/.exec(log);
        if (m) resolve(m[1] as string);
      });
      child.once('exit', (code, signal) => reject(new Error(`georeg front exited (${code ?? signal}) before listening: ${log}`)));
    });
    return { url, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
