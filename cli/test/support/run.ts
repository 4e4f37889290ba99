import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Compiled to cli/dist/test/support/run.js: the command is cli/dist/src/main.js.
export const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without any GEOREG_* setting of whoever runs the tests, plus `extra`. */
export function envWith(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GEOREG_')) env[k] = v;
  return { ...env, ...extra };
}

/** Run `georeg args...` to completion, `stdin` on its standard input (for --password-stdin). */
export function georeg(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [main, ...args], { env: envWith(env) }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

export const STACK = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

export function expectCleanFailure(run: Run, code: number, message: RegExp): void {
  assert.equal(run.code, code, `exit status ${run.code}, stderr: ${run.stderr}`);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, STACK, `a stack trace: ${run.stderr}`);
}
