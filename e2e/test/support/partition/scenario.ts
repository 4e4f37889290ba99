/**
 * One partition run: namespaces, firewall and regions up, the workload running while the
 * schedule cuts and heals; at each heal the workload pauses and every region is polled until
 * it agrees (the time that takes is the heal's convergence time); at the end, a last check.
 * Everything made is removed at the end, whatever happened (unless `keep`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { converge, type Convergence } from './checker.js';
import { Firewall } from './firewall.js';
import { createNet, destroyNet, keepNet, leftovers, sweepStale, unavailable } from './net.js';
import { natsRecovery, startRegions, type NatsRecovery, type NatsTuning } from './regions.js';
import { describe, makeSchedule, type PartitionEvent } from './schedule.js';
import { Workload, type PullStats, type Write } from './workload.js';

export interface ScenarioOptions {
  seed: number;
  /** Ms of workload, partitions included (convergence waits come on top). */
  durationMs: number;
  /** Convergence after a heal must take at most this long (default 10 s). */
  boundMs?: number;
  /** How long to keep polling past the bound, to measure (default 60 s). */
  maxWaitMs?: number;
  /** Leave the namespaces, processes and logs for debugging. */
  keep?: boolean;
  /** Leave the run directory (logs and data) even when nothing went wrong. */
  keepLogs?: boolean;
  nats?: NatsTuning;
  regions?: string[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface Heal extends Convergence {
  /** Date.now() at the heal (or the final check). */
  since: number;
  /** What the nats-servers logged from then until the next partition (evidence of where the time went). */
  nats: NatsRecovery;
  /** The event healed; undefined for the final check. */
  event?: PartitionEvent;
}

export interface ScenarioResult {
  seed: number;
  boundMs: number;
  schedule: PartitionEvent[];
  heals: Heal[];
  writes: Write[];
  pulls: PullStats;
  /** Packets the firewall dropped per region. */
  dropped: Record<string, number>;
  violations: string[];
  /** Run directory (logs and data); removed at the end unless kept (keep, keepLogs) or a violation happened. */
  dir: string;
  dirKept: boolean;
  /** Names of the run's namespaces and links, to remove by hand when kept. */
  kept?: string[];
  wallMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const why = await unavailable();
  if (why) throw new Error(why);
  const log = opts.log ?? ((): void => undefined);
  const names = opts.regions ?? ['eu', 'us', 'ap'];
  const boundMs = opts.boundMs ?? 10_000;
  const maxWaitMs = opts.maxWaitMs ?? 60_000;
  const begun = Date.now();
  const swept = await sweepStale();
  if (swept.length) log(`removed leftovers of earlier runs: ${swept.join(' ')}`);
  const schedule = makeSchedule(opts.seed, names, opts.durationMs);
  const dir = await mkdtemp(join(tmpdir(), `georeg-partition-${opts.seed}-`));
  const net = await createNet(names);
  const result: ScenarioResult = {
    seed: opts.seed,
    boundMs,
    schedule,
    heals: [],
    writes: [],
    pulls: { ok: 0, missing: 0, corrupt: [], errors: 0 },
    dropped: {},
    violations: [],
    dir,
    dirKept: false,
    wallMs: 0,
  };
  let workload: Workload | undefined;
  try {
    log(
      `seed ${opts.seed}: network ${net.hostAddr.replace(/\.254$/, '.0/24')} (${net.regions.map((r) => `${r.name}=${r.addr} in ${r.ns}`).join(', ')}), logs in ${dir}`,
    );
    const firewall = await Firewall.install(net);
    const regions = await startRegions(net, dir, opts.nats);
    workload = new Workload(regions, opts.seed);
    result.writes = workload.writes;
    result.pulls = workload.pulls;
    const started = Date.now();
    /** When each partition began: the nats-servers' logs after a heal are read up to the next one. */
    const cutAt: number[] = [];
    workload.start();
    const heal = async (event?: PartitionEvent): Promise<void> => {
      await (workload as Workload).pause();
      if (event) await firewall.healAll();
      const since = Date.now();
      const c = await converge(regions, (workload as Workload).writes, since, maxWaitMs);
      result.heals.push({ ...c, since, nats: {}, ...(event && { event }) });
      log(
        `  ${new Date(since).toISOString().slice(11, 23)} ${event ? `healed ${describe(event.partition)}` : 'final check'}: ${c.ms === undefined ? `not converged in ${maxWaitMs / 1000} s` : `converged in ${(c.ms / 1000).toFixed(1)} s`} (${c.tags} tags, ${(workload as Workload).writes.length} writes so far)${c.violations.length ? `, ${c.violations.length} violations` : ''}`,
      );
      (workload as Workload).resume();
    };
    for (const event of schedule) {
      await sleep(event.gapMs);
      const p = event.partition;
      if (p.kind === 'cut') await firewall.cut(p.a, p.b);
      else if (p.kind === 'isolate') await firewall.isolate(p.region);
      else await firewall.splitAll();
      cutAt.push(Date.now());
      log(
        `  ${new Date().toISOString().slice(11, 23)} (+${((Date.now() - started) / 1000).toFixed(0)} s) ${describe(p)} for ${(event.durationMs / 1000).toFixed(0)} s`,
      );
      await sleep(event.durationMs);
      await heal(event);
    }
    await sleep(Math.max(2_000, opts.durationMs - schedule.reduce((t, e) => t + e.gapMs + e.durationMs, 0)));
    await workload.stop();
    await heal();
    result.dropped = await firewall.dropped();
    for (const [i, h] of result.heals.entries()) h.nats = await natsRecovery(regions, h.since, cutAt[i + 1] ?? Date.now());
  } finally {
    await workload?.stop();
    if (opts.keep) {
      keepNet(net);
      result.kept = await leftovers(net.id);
    } else await destroyNet(net);
  }
  const heals = result.heals;
  result.violations = [
    ...new Set([
      ...heals.flatMap((h) => h.violations),
      ...heals
        .filter((h) => h.ms === undefined || h.ms > boundMs)
        .map(
          (h) =>
            `${h.event ? `heal of ${describe(h.event.partition)}` : 'final check'}: ${h.ms === undefined ? `no convergence within ${maxWaitMs / 1000} s` : `converged in ${(h.ms / 1000).toFixed(1)} s, over the ${boundMs / 1000} s bound`}`,
        ),
      ...result.pulls.corrupt.map((c) => `corrupt pull: ${c}`),
    ]),
  ];
  result.dirKept = opts.keep === true || opts.keepLogs === true || result.violations.length > 0;
  if (!result.dirKept) await rm(dir, { recursive: true, force: true });
  result.wallMs = Date.now() - begun;
  return result;
}
