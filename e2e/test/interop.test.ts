/**
 * The shared real-client interop script (../shared/tools/skopeo-interop.sh: 15 skopeo steps,
 * including a 512 MiB push/pull and `sync --all` to a second registry) against two built
 * georeg nodes. The script gives skopeo a private blob-info cache itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GeoregNode, repoRoot } from './support/process.js';

const SCRIPT = resolve(repoRoot, '..', 'shared', 'tools', 'skopeo-interop.sh');
const TIMEOUT_MS = 10 * 60_000;

interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

/** Run bash SCRIPT args in its own process group (so a timeout kills skopeo too); stdout+stderr interleaved. */
function runScript(args: string[], timeoutMs: number): Promise<ScriptResult> {
  return new Promise((res, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (process.env['E2E_VERBOSE'] === '1') process.stderr.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, output, timedOut });
    });
  });
}

describe('skopeo-interop.sh against georeg (e2e, black box)', function () {
  let a: GeoregNode | undefined;
  let b: GeoregNode | undefined;

  before(async function () {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} not found: the shared folder must sit beside the repository`);
    for (const img of ['small', 'big', 'multi']) {
      if (!existsSync(join('/tmp/lab-images', img, 'index.json'))) {
        throw new Error(`test image /tmp/lab-images/${img} missing: run \`node scripts/ensure-tools.mjs\` (npm pretest)`);
      }
    }
    // Access log off as in the benchmarks: this pushes 512 MiB and is also a speed sample.
    [a, b] = await Promise.all([
      GeoregNode.start({ name: 'node-a', accessLog: false }),
      GeoregNode.start({ name: 'node-b', accessLog: false }),
    ]);
  });

  after(async function () {
    this.timeout(30_000);
    const exits = await Promise.all([a?.stop(), b?.stop()]);
    for (const [i, e] of exits.entries()) {
      if (e) assert.deepEqual(e, { code: 0, signal: null }, `node ${i === 0 ? 'a' : 'b'} did not exit cleanly on SIGTERM`);
    }
  });

  it('passes all 15 steps', async function () {
    this.timeout(TIMEOUT_MS + 30_000);
    assert.ok(a && b);
    const r = await runScript([a.hostPort, b.hostPort], TIMEOUT_MS);
    const lines = r.output.trimEnd().split('\n');
    const last = lines[lines.length - 1] ?? '';
    const diagnostics = () =>
      `\n--- skopeo-interop.sh output (exit ${r.code ?? r.signal}${r.timedOut ? `, killed after ${TIMEOUT_MS} ms` : ''}) ---\n` +
      `${r.output}\n${a?.stderrTail(40)}\n${b?.stderrTail(40)}`;
    assert.equal(r.timedOut, false, `timed out${diagnostics()}`);
    assert.match(last, /^skopeo interop: 15\/15 steps passed$/, `last line: ${JSON.stringify(last)}${diagnostics()}`);
    assert.equal(r.code, 0, `exit code${diagnostics()}`);
    // The slowest steps, for the record ("PASS 10 push-big-512MiB  3.21s").
    const steps = lines
      .map((l) => /^PASS\s+\d+\s+(\S+)\s+([\d.]+)s$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[1] as string, s: Number(m[2]) }))
      .sort((x, y) => y.s - x.s)
      .slice(0, 3);
    this.test!.title += ` [slowest: ${steps.map((st) => `${st.name} ${st.s.toFixed(1)}s`).join(', ')}]`;
  });
});
