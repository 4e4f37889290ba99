#!/usr/bin/env node
// `npm run bench`: georeg and (when installed) CNCF Distribution measured side by side by
// ../shared/tools/compare.mjs, interleaved run by run. Extra arguments go to compare.mjs
// (e.g. --runs=1 --quick). The table is printed and saved under bench-results/<stamp>/.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tools = join(root, '..', 'shared', 'tools');
if (!existsSync(join(tools, 'compare.mjs'))) {
  console.error(`bench: ${tools}/compare.mjs not found (the shared tools sit beside the repo)`);
  process.exit(2);
}
const port = Number(process.env.BENCH_PORT ?? 5300);
const data = mkdtempSync(join(tmpdir(), 'georeg-bench-'));
const node = spawn(process.execPath, [join(root, 'cli/dist/src/main.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', data], {
  env: { ...process.env, GEOREG_LOG_ACCESS: 'false', GEOREG_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stop = () => {
  node.kill('SIGTERM');
  rmSync(data, { recursive: true, force: true });
};
process.on('SIGINT', () => (stop(), process.exit(130)));

for (let i = 0; ; i++) {
  const r = await fetch(`http://127.0.0.1:${port}${apiPaths.base()}`).catch(() => undefined);
  if (r?.ok) break;
  if (i > 100) throw new Error('georeg did not start');
  await new Promise((res) => setTimeout(res, 100));
}
const haveDistribution = spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status === 0;
const targets = [`georeg=http://127.0.0.1:${port}@${node.pid}`];
if (haveDistribution) targets.unshift(`distribution=distribution:${port + 1}`);
else console.error('bench: docker-registry not installed; measuring georeg alone');
const args = [join(tools, 'compare.mjs'), ...process.argv.slice(2), ...targets];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
stop();
process.exit(r.status ?? 1);
