import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { leafOf, leafPath } from '../../src/meta/digest-tree.js';
import { expectedRepositoryHash } from '../support/tree-oracle.js';

const WRITER = fileURLToPath(new URL('../support/tree-writer.js', import.meta.url));

describe('LevelMetaStore: digest tree after kill -9 mid-write', () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('matches what the store holds, repository by repository, after each of three kills', async function () {
    this.timeout(60_000);
    dir = await mkdtemp(join(tmpdir(), 'georeg-tree-kill-'));
    for (let run = 0; run < 3; run++) {
      const child = spawn(process.execPath, [WRITER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      let changes = 0;
      for await (const _ of createInterface({ input: child.stdout })) {
        if (++changes === 400) child.kill('SIGKILL');
      }
      const [, signal] = await exited;
      assert.equal(signal, 'SIGKILL', 'the writer was killed while writing');

      const store = await LevelMetaStore.open(dir);
      try {
        for (let r = 0; r < 23; r++) {
          const repo = `repo-${r}`;
          const leaf = await store.digestTree().leaf(leafPath(leafOf(repo)));
          assert.deepEqual(
            leaf.find((e) => e.name === repo)?.hash,
            await expectedRepositoryHash(store, repo),
            `${repo} after kill ${run + 1}`,
          );
        }
      } finally {
        await store.close();
      }
    }
  });
});
