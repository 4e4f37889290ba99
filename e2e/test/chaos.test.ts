import assert from 'node:assert/strict';
import { report } from './support/chaos/report.js';
import { runChaos } from './support/chaos/scenario.js';

// The short form of `npm run e2e:chaos` (issue 17): 40 s of workload with a kill every 3-8 s.
describe('chaos: kill -9 of nodes and nats-servers under load (e2e, georeg cluster)', function () {
  this.timeout(300_000);

  it('serves every pull of acknowledged content while the regions can be asked, and converges after the last kill', async () => {
    const r = await runChaos({ seed: 3101, durationMs: 40_000, log: (line) => console.log(`      ${line}`) });
    console.log(report(r).replace(/^/gm, '      '));
    assert.ok(r.kills.length >= 4, `killed ${r.kills.length} processes`);
    assert.ok(r.missing.acknowledged >= 10, `${r.missing.acknowledged} pulls of acknowledged content`);
    assert.deepEqual(r.violations, []);
  });
});
