/**
 * One chaos run (issue 17's scenario): `georeg cluster` with three regions, the partition runs'
 * workload (pushes, tag moves, deletes and pulls in every region, some tags written by two
 * regions) while a seeded schedule kills a node or a nats-server with SIGKILL every few seconds
 * (the cluster restarts it). Then every region must converge, and no pull may have answered 404
 * for acknowledged content while every region could be asked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../cluster.js';
import { eventsFlow } from '../partition/regions.js';
import { converge, type Convergence } from '../partition/checker.js';
import { prng } from '../partition/schedule.js';
import { Workload, type Pull, type PullStats, type Write } from '../partition/workload.js';
import { missingPulls, type MissingPulls } from './missing-pulls.js';

export interface ChaosOptions {
  seed: number;
  /** Ms of workload with kills. */
  durationMs: number;
  /** A kill every this many ms, drawn uniformly (default 3-8 s). */
  killEveryMs?: [number, number];
  /** How long the regions may take to agree after the last kill (default 60 s). */
  maxWaitMs?: number;
  log?: (line: string) => void;
}

export interface Kill {
  /** Ms after the workload started. */
  at: number;
  region: string;
  kind: 'node' | 'nats';
}

export interface ChaosResult {
  seed: number;
  kills: Kill[];
  writes: Write[];
  pulls: PullStats;
  pullLog: Pull[];
  missing: MissingPulls;
  convergence: Convergence;
  violations: string[];
  /** The cluster's data and logs, kept when something went wrong. */
  dir?: string;
  wallMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((): void => undefined);
  const begun = Date.now();
  const rand = prng(opts.seed);
  const [lo, hi] = opts.killEveryMs ?? [3_000, 8_000];
  const dir = await mkdtemp(join(tmpdir(), `georeg-chaos-${opts.seed}-`));
  const cluster = await Cluster.start(join(dir, 'data'));
  const kills: Kill[] = [];
  let keep = true; // the data and logs of a run that failed or found a violation stay for a look
  try {
    const regions = cluster.regions.map((r) => ({ name: r.name, url: r.registry }));
    log(`seed ${opts.seed}: cluster of ${regions.map((r) => `${r.name} ${r.url}`).join(', ')}, data in ${dir}`);
    await eventsFlow(regions, 'chaos/ready');
    const workload = new Workload(regions, opts.seed);
    const started = Date.now();
    workload.start();
    while (Date.now() - started < opts.durationMs) {
      await sleep(lo + rand() * (hi - lo));
      if (Date.now() - started >= opts.durationMs) break;
      const region = regions[Math.floor(rand() * regions.length)]?.name as string;
      const kind = rand() < 0.5 ? 'node' : 'nats';
      const pid = await cluster.pid(region, kind);
      process.kill(pid, 'SIGKILL');
      kills.push({ at: Date.now() - started, region, kind });
      log(`  +${((Date.now() - started) / 1000).toFixed(1)} s kill -9 ${kind} of ${region} (pid ${pid})`);
    }
    await workload.stop();
    const since = Date.now();
    const convergence = await converge(regions, workload.writes, since, opts.maxWaitMs ?? 60_000);
    const missing = missingPulls(workload.writes, workload.pullLog);
    const violations = [
      ...convergence.violations,
      ...(convergence.ms === undefined ? [`no convergence within ${(opts.maxWaitMs ?? 60_000) / 1000} s of the last kill`] : []),
      ...workload.pulls.corrupt.map((c) => `corrupt pull: ${c}`),
      ...missing.unexplained.map(
        (p) => `404 of acknowledged content: ${p.region} ${p.repo}:${p.tag} at +${((p.start - started) / 1000).toFixed(1)} s`,
      ),
    ];
    keep = violations.length > 0;
    return {
      seed: opts.seed,
      kills,
      writes: workload.writes,
      pulls: workload.pulls,
      pullLog: workload.pullLog,
      missing,
      convergence,
      violations,
      ...(violations.length > 0 && { dir }),
      wallMs: Date.now() - begun,
    };
  } finally {
    await cluster.stop();
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}
