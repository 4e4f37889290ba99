/**
 * `npm run e2e:partition`: the long partition run, one scenario per seed, a summary line each and
 * a table at the end; exits 1 on any violation (convergence over the bound included).
 */
import { parseArgs } from 'node:util';
import { report, summaryLine, table } from './report.js';
import { runScenario, type ScenarioResult } from './scenario.js';

const help = `Usage: npm run e2e:partition -- [--seeds 2001,2002] [--duration 110] [--bound 10] [--keep]

Three regions (eu, us, ap), each in its own network namespace with its nats-server and georeg
node; a workload of pushes, tag moves, deletes and pulls in every region while a seeded schedule
cuts pairs, isolates a region (one isolation of 30-40 s per seed) and splits all three. At each
heal, every region must agree within the bound, with the later acknowledged write winning every
tag two regions write, no acknowledged write lost and no blob corrupt. Needs root.

Options:
  --seeds LIST     seeds, one run each (default 2001..2010)
  --duration S     seconds of workload per seed, partitions included (default 110)
  --bound S        convergence bound after a heal (default 10)
  --keep           leave namespaces and processes of each run for debugging (logs and data
                   are always left, in the directory each run prints)
  --nats-ping S    nats-server ping_interval in seconds (default 2, as georeg cluster; 0: nats-server's
                   own, 2 minutes)
  -h, --help       this text`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      duration: { type: 'string' },
      bound: { type: 'string' },
      keep: { type: 'boolean' },
      'nats-ping': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(help);
    return 0;
  }
  const seeds = values.seeds ? values.seeds.split(',').map(Number) : Array.from({ length: 10 }, (_, i) => 2001 + i);
  const durationMs = Number(values.duration ?? 110) * 1000;
  const boundMs = Number(values.bound ?? 10) * 1000;
  if (seeds.some((n) => !Number.isInteger(n)) || !(durationMs >= 50_000) || !(boundMs > 0)) {
    console.error(`${help}\n\n--seeds takes whole numbers, --duration at least 50 (s), --bound more than 0`);
    return 2;
  }
  const ping = values['nats-ping'];
  const results: ScenarioResult[] = [];
  for (const seed of seeds) {
    const r = await runScenario({
      seed,
      durationMs,
      boundMs,
      keep: values.keep === true,
      keepLogs: true,
      ...(ping !== undefined && { nats: { pingInterval: ping === '0' ? '' : `${ping}s`, pingMax: 2 } }),
      log: (line) => console.log(line),
    });
    results.push(r);
    console.log(report(r));
    console.log(summaryLine(r) + '\n');
  }
  console.log(table(results));
  const bad = results.filter((r) => r.violations.length > 0);
  console.log(
    bad.length
      ? `\n${bad.length} of ${results.length} seeds had violations`
      : `\nall ${results.length} seeds converged within ${boundMs / 1000} s with no violation`,
  );
  return bad.length ? 1 : 0;
}

// A signal ends the run; net.ts removes the namespaces (and what runs in them) as the process exits.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
