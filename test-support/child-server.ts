/**
 * A server run as a child process of the tests (an emulator such as Azurite or s3rver): its data in
 * a fresh temp directory, on a port of its choosing that it names in a line of its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ChildServer {
  /** What `listening` matched in its output. */
  match: RegExpExecArray;
  /** Its data directory. */
  dir: string;
  /** Stop it and remove its data. */
  stop(): Promise<void>;
}

/**
 * Run the Node.js script and arguments `args(dir)` gives for a fresh temp directory; resolves once
 * its output (stdout and stderr) matches `listening`. Rejects, with its output, if it exits first.
 */
export async function startChildServer(name: string, args: (dir: string) => string[], listening: RegExp): Promise<ChildServer> {
  const dir = await mkdtemp(join(tmpdir(), `georeg-${name}-`));
  const child = spawn(process.execPath, args(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = async (): Promise<void> => {
    await stopped(child);
    await rm(dir, { recursive: true, force: true });
  };
  let output = '';
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const seen = (chunk: string): void => {
        output += chunk;
        const m = listening.exec(output);
        if (m) resolve(m);
      };
      child.stdout?.setEncoding('utf8').on('data', seen);
      child.stderr?.setEncoding('utf8').on('data', seen);
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`${name} exited with ${code ?? signal} before listening:\n${output}`)));
    });
    return { match, dir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
