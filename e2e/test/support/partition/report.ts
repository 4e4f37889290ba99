/** What a partition run did, as text: its schedule, its writes and pulls, each heal's convergence time, its violations. */
import type { ScenarioResult } from './scenario.js';
import { describe } from './schedule.js';

const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** The slowest convergence after a heal (the final check included); undefined if one never converged. */
export function worstConvergence(r: ScenarioResult): number | undefined {
  return r.heals.some((h) => h.ms === undefined) ? undefined : Math.max(...r.heals.map((h) => h.ms as number));
}

export function report(r: ScenarioResult): string {
  const lines = [`partition run, seed ${r.seed} (${s(r.wallMs)} in all)`, 'schedule (gap of whole network, then the partition):'];
  for (const e of r.schedule) lines.push(`  +${s(e.gapMs)} ${describe(e.partition)} for ${s(e.durationMs)}`);
  lines.push('writes (acknowledged / unanswered or failed):');
  for (const region of [...new Set(r.writes.map((w) => w.region))]) {
    const mine = r.writes.filter((w) => w.region === region);
    const count = (f: (w: (typeof mine)[number]) => boolean): string =>
      `${mine.filter((w) => f(w) && w.acked !== undefined).length}/${mine.filter((w) => f(w) && w.acked === undefined).length}`;
    lines.push(
      `  ${region}: puts ${count((w) => w.kind === 'put' && !w.shared)}, deletes ${count((w) => w.kind === 'delete' && !w.shared)}, shared-tag puts ${count((w) => w.kind === 'put' && w.shared)}, shared-tag deletes ${count((w) => w.kind === 'delete' && w.shared)}`,
    );
  }
  for (const w of r.writes.filter((x) => x.error).slice(0, 5)) lines.push(`  failed: ${w.region} ${w.kind} ${w.repo}:${w.tag}: ${w.error}`);
  lines.push(
    `pulls: ${r.pulls.ok} intact, ${r.pulls.missing} not there (yet), ${r.pulls.errors} errors, ${r.pulls.corrupt.length} corrupt`,
  );
  lines.push(
    `packets dropped by the cuts: ${Object.entries(r.dropped)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  lines.push('convergence after each heal (every region the same on every tag written, every blob held and intact):');
  for (const h of r.heals) {
    const nats = [
      h.disagreed > 0 && `${h.disagreed} tags differed at the heal, fewer from +${s(h.progressMs)}`,
      h.nats.gatewaysMs !== undefined && `NATS gateways back +${s(h.nats.gatewaysMs)}`,
      h.nats.metaLeaderMs !== undefined &&
        (h.nats.metaLeaderMs === Infinity
          ? 'JetStream without a metadata leader until the next partition'
          : `JetStream metadata leader +${s(h.nats.metaLeaderMs)}`),
    ].filter(Boolean);
    lines.push(
      `  ${h.event ? `${describe(h.event.partition)} (${s(h.event.durationMs)})` : 'final check'}: ${h.ms === undefined ? 'not converged' : s(h.ms)}, ${h.tags} tags${nats.length ? ` (${nats.join(', ')})` : ''}`,
    );
  }
  lines.push(r.violations.length ? `violations (${r.violations.length}):` : 'violations: none');
  for (const v of r.violations) lines.push(`  ${v}`);
  if (r.dirKept) lines.push(`logs: ${r.dir}`);
  if (r.kept) lines.push(`kept: ${r.kept.join(' ')}`);
  return lines.join('\n');
}

export function summaryLine(r: ScenarioResult): string {
  const isolation = r.heals.filter((h) => h.event?.partition.kind === 'isolate').map((h) => s(h.ms));
  return `seed ${r.seed}: ${r.schedule.length} partitions, ${r.writes.filter((w) => w.acked).length} writes acknowledged, worst convergence ${s(worstConvergence(r))} (after isolations: ${isolation.join(', ') || '-'}), ${r.violations.length} violations`;
}

export function table(results: ScenarioResult[]): string {
  const rows = [['seed', 'partitions', 'writes', 'worst convergence', 'after long isolation', 'violations']];
  for (const r of results) {
    const longest = r.heals
      .filter((h) => h.event?.partition.kind === 'isolate')
      .sort((a, b) => (b.event?.durationMs ?? 0) - (a.event?.durationMs ?? 0))[0];
    rows.push([
      String(r.seed),
      String(r.schedule.length),
      String(r.writes.filter((w) => w.acked).length),
      s(worstConvergence(r)),
      longest ? `${s(longest.ms)} (${s(longest.event?.durationMs)})` : '-',
      String(r.violations.length),
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}
