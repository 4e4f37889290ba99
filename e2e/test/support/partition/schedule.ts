/**
 * A seeded schedule of partitions: pairs cut, one region isolated, three-way splits, each for
 * 10-40 s with the network whole for a few seconds between them. Every schedule holds one
 * isolation of at least 30 s (the case issue 16 found slow to recover).
 */

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Partition = { kind: 'cut'; a: string; b: string } | { kind: 'isolate'; region: string } | { kind: 'split' };

export interface PartitionEvent {
  partition: Partition;
  /** Ms of whole network (workload running) before it. */
  gapMs: number;
  durationMs: number;
}

export function describe(p: Partition): string {
  if (p.kind === 'cut') return `cut ${p.a}|${p.b}`;
  if (p.kind === 'isolate') return `isolate ${p.region}`;
  return 'split all';
}

/** Events filling `durationMs` of workload (the last one healed 2 s or more before its end; the long isolation needs 45 s). */
export function makeSchedule(seed: number, regions: string[], durationMs: number): PartitionEvent[] {
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const between = (lo: number, hi: number): number => Math.round(lo + rand() * (hi - lo));
  const events: PartitionEvent[] = [];
  let gap = between(3_000, 6_000);
  let t = gap;
  let longIsolation = false;
  for (;;) {
    // The long isolation comes first or second: first when a random event, a gap and it would not fit.
    const mustIsolate = !longIsolation && (events.length >= 1 || t + 25_000 + 8_000 + 40_000 + 2_000 > durationMs);
    const kind = mustIsolate ? 'isolate' : pick(['cut', 'cut', 'isolate', 'split'] as const);
    const d = kind === 'isolate' && !longIsolation ? between(30_000, 40_000) : between(10_000, 25_000);
    if (t + d + 2_000 > durationMs) break;
    let partition: Partition;
    if (kind === 'cut') {
      const a = pick(regions);
      const b = pick(regions.filter((r) => r !== a));
      partition = { kind, a: a < b ? a : b, b: a < b ? b : a };
    } else if (kind === 'isolate') {
      partition = { kind, region: pick(regions) };
      if (d >= 30_000) longIsolation = true;
    } else partition = { kind };
    events.push({ partition, gapMs: gap, durationMs: d });
    gap = between(3_000, 8_000);
    t += d + gap;
  }
  return events;
}
