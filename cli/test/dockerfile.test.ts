import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const UI = 'nodes/ui';
/** What nodes/ui holds for the build only: the type-check settings, type declarations, its output. */
const BUILD_ONLY = (f: string): boolean => f === 'tsconfig.json' || f === 'dist' || f.endsWith('.d.ts');

/** Sources of the Dockerfile's COPY instructions from the build context (not `--from` a stage). */
function copySources(dockerfile: string): string[] {
  return dockerfile
    .split('\n')
    .filter((l) => /^COPY\s/.test(l) && !l.includes('--from='))
    .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
}

const glob = (pattern: string): RegExp => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);

describe('deploy/Dockerfile', () => {
  it('copies every file of the status page the node reads at start (nodes/ui)', async () => {
    const sources = copySources(await readFile(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')).map(glob);
    const files = (await readdir(join(ROOT, UI))).filter((f) => !BUILD_ONLY(f)).map((f) => `${UI}/${f}`);
    assert.ok(files.includes(`${UI}/page.html`), 'nodes/ui holds the page');
    const missing = files.filter((f) => !sources.some((s) => s.test(f)));
    assert.deepEqual(missing, [], 'files of nodes/ui the image would lack (the node fails to start without them)');
  });
});
