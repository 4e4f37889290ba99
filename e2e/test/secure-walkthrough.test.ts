/**
 * The README's "A secure cluster, end to end" run as written: the shell block between its
 * `secure-walkthrough` markers, with this test's ports and directory put in, against a real
 * `georeg cluster --secure` (started here instead of by the block's first line; the Prometheus
 * line is e2e/test/prometheus-secure.test.ts's).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from './support/cluster.js';
import { cleanEnv } from './support/serve.js';
import { cliMain, repoRoot } from './support/process.js';

/** The walkthrough's lines, as the README has them. */
async function walkthrough(): Promise<string[]> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = /<!-- secure-walkthrough -->\n```sh\n([^]*?)```\n<!-- \/secure-walkthrough -->/.exec(readme)?.[1];
  assert.ok(block, 'README.md has the secure walkthrough between its markers');
  return block.split('\n');
}

describe('the README secure-cluster walkthrough, run as written (e2e)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-walkthrough-'));
    cluster = await Cluster.start(join(dir, 'secure-data'), ['eu', 'us', 'ap'], ['--secure']);
  });
  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs in, manages users and tokens, applies a policy, pushes signed, verifies, finds, reports status and gc', async () => {
    const lines = await walkthrough();
    assert.match(lines[0] ?? '', /^npx georeg cluster --secure --data \.\/secure-data --port-base 7100 &/);
    const ports = (cluster as Cluster).regions.map((r) => new URL(r.registry).port);
    const script = lines
      .slice(1)
      .filter((l) => !l.startsWith('prometheus '))
      .join('\n')
      .replace(/\b7100\b/g, ports[0] as string)
      .replace(/\b7110\b/g, ports[1] as string)
      .replace(/\b7120\b/g, ports[2] as string)
      .replace(/npx georeg /g, `${process.execPath} ${cliMain} `);
    const env = cleanEnv({ HOME: dir, REGISTRY_AUTH_FILE: join(dir, 'auth.json') });
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env, timeout: 150_000 }, (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: out, stderr: errOut }),
      );
      child.stdin?.end();
    });
    assert.equal(code, 0, `the walkthrough failed:\n${stdout}\n${stderr}`);
    for (const port of ports) assert.match(stdout, new RegExp(`logged in to 127\\.0\\.0\\.1:${port} as admin`));
    assert.match(stdout, /^dev +false/m, 'user list shows dev');
    assert.match(stdout, /verified: signed by ci\b/);
    assert.match(stdout, /^team\/app:v1\n/m, 'where answered');
    assert.match(stdout, /^region eu; outbox \d+ waiting/m, 'status answered');
    assert.doesNotMatch(stderr, /DeprecationWarning|Error:/);
  });
});
