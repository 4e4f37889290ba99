/** What a chaos run did, as text: its kills, writes and pulls, the 404s of acknowledged content, convergence, violations. */
import type { ChaosResult } from './scenario.js';

const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

export function report(r: ChaosResult): string {
  const acked = r.writes.filter((w) => w.acked !== undefined).length;
  const lines = [
    `chaos run, seed ${r.seed} (${s(r.wallMs)} in all)`,
    `kills (kill -9; georeg cluster restarts each): ${r.kills.map((k) => `+${s(k.at)} ${k.kind} ${k.region}`).join(', ') || 'none'}`,
    `writes: ${acked} acknowledged, ${r.writes.length - acked} unanswered or failed`,
    `pulls: ${r.pullLog.length} in all: ${r.pulls.ok} intact, ${r.pulls.missing} answered 404, ${r.pulls.errors} failed (a region down), ${r.pulls.corrupt.length} corrupt`,
    `pulls of acknowledged content (the last acknowledged write put an image, none in flight): ${r.missing.acknowledged}; answered 404: ${r.missing.unexplained.length} while every region could be asked, ${r.missing.unreachable.length} while a region that might hold it was down (the error says which)`,
    `convergence after the last kill: ${r.convergence.ms === undefined ? 'none' : s(r.convergence.ms)}, ${r.convergence.tags} tags`,
    r.violations.length ? `violations (${r.violations.length}):` : 'violations: none',
    ...r.violations.map((v) => `  ${v}`),
  ];
  if (r.dir) lines.push(`data and logs: ${r.dir}`);
  return lines.join('\n');
}
