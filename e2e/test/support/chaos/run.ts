/** `npm run e2e:chaos`: the long chaos run, one per seed; exits 1 on any violation. */
import { parseArgs } from 'node:util';
import { report } from './report.js';
import { runChaos } from './scenario.js';

const help = `Usage: npm run e2e:chaos -- [--seeds 3001,3002] [--duration 90]

georeg cluster with three regions (eu, us, ap); a workload of pushes, tag moves, deletes and pulls
in every region while a seeded schedule kills a node or a nats-server with SIGKILL every 3-8 s
(the cluster restarts it). Then every region must agree (the later acknowledged write winning,
nothing acknowledged lost, no blob corrupt), and no pull may have answered 404 for content
acknowledged before it while every region could be asked.

Options:
  --seeds LIST     seeds, one run each (default 3001..3003)
  --duration S     seconds of workload with kills per seed (default 90)
  -h, --help       this text`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { seeds: { type: 'string' }, duration: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(help);
    return 0;
  }
  const seeds = values.seeds ? values.seeds.split(',').map(Number) : [3001, 3002, 3003];
  const durationMs = Number(values.duration ?? 90) * 1000;
  if (seeds.some((n) => !Number.isInteger(n)) || !(durationMs >= 10_000)) {
    console.error(`${help}\n\n--seeds takes whole numbers, --duration at least 10 (s)`);
    return 2;
  }
  let bad = 0;
  for (const seed of seeds) {
    const r = await runChaos({ seed, durationMs, log: (line) => console.log(line) });
    console.log(`${report(r)}\n`);
    if (r.violations.length) bad++;
  }
  console.log(bad ? `${bad} of ${seeds.length} seeds had violations` : `all ${seeds.length} seeds: no violation`);
  return bad ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
