/**
 * A process that writes tags, tag deletes and manifests into a LevelMetaStore at `argv[2]` from
 * eight concurrent writers until it is killed, printing a line per change: what
 * digest-tree-kill.test.ts kills with SIGKILL mid-write.
 */
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { manifest } from './meta-suite.js';

const store = await LevelMetaStore.open(process.argv[2] as string);
const writer = async (w: number): Promise<never> => {
  for (let i = 0; ; i++) {
    const repo = `repo-${(w * 7 + i) % 23}`;
    const m = manifest(`m-${i % 5}`);
    const clock = { tagClock: { wallMs: 1_700_000_000_000 + i, logical: w, region: 'eu' } };
    if (i % 4 === 3) await store.deleteTag(repo, `t${i % 3}`, clock);
    else if (i % 7 === 6) await store.deleteManifest(repo, m.digest);
    else await store.putManifest(repo, m, `t${i % 3}`, clock);
    process.stdout.write('.\n');
  }
};
await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
