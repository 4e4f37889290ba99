import assert from 'node:assert/strict';
import { unavailable } from './support/partition/net.js';
import { report } from './support/partition/report.js';
import { runScenario } from './support/partition/scenario.js';

// The short form of `npm run e2e:partition` (issue 16): one seed, 85 s of workload with a pair
// cut, an isolation of 30 s and a three-way split; every heal must converge within 10 s.
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
    const result = await runScenario({ seed: 1007, durationMs: 85_000, log: (line) => console.log(`      ${line}`) });
    console.log(report(result).replace(/^/gm, '      '));
    assert.deepEqual(
      result.schedule.map((e) => e.partition.kind),
      ['cut', 'isolate', 'split'],
      'a pair cut, an isolation and a three-way split',
    );
    assert.ok(
      result.schedule.some((e) => e.partition.kind === 'isolate' && e.durationMs >= 30_000),
      'the schedule holds an isolation of 30 s or more',
    );
    assert.ok(result.heals.length > result.schedule.length, 'every partition was healed and checked, and the end too');
    assert.deepEqual(result.violations, []);
  });
});
