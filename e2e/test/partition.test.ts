import assert from 'node:assert/strict';
import { unavailable } from './support/partition/net.js';
import { report } from './support/partition/report.js';
import { runScenario } from './support/partition/scenario.js';

// The short form of `npm run e2e:partition` (issue 16): one seed, 75 s of workload with a pair
// cut or a split and an isolation of 30 s or more; every heal must converge within 10 s.
describe('network partitions between three regions: every heal converges within 10 s, the later write wins, nothing is lost (e2e)', function () {
  this.timeout(300_000);

  before(async function () {
    const why = await unavailable();
    if (why && process.getuid?.() !== 0) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    // As root, a missing tool is a failure, not a skip: CI runs as root.
    assert.equal(why, undefined, why);
  });

  it('converges after each heal with one winner per tag and every acknowledged write kept', async () => {
    const result = await runScenario({ seed: 1001, durationMs: 75_000, log: (line) => console.log(`      ${line}`) });
    console.log(report(result).replace(/^/gm, '      '));
    assert.ok(
      result.schedule.some((e) => e.partition.kind === 'isolate' && e.durationMs >= 30_000),
      'the schedule holds an isolation of 30 s or more',
    );
    assert.ok(result.heals.length > result.schedule.length, 'every partition was healed and checked, and the end too');
    assert.deepEqual(result.violations, []);
  });
});
