/**
 * Which pulls answered 404 for acknowledged content (issue 17's measure): the tag's last write
 * acknowledged before the pull was sent put an image, and no other write of the tag could have
 * changed it while the pull ran (every other write sent before the pull's end was acknowledged
 * before that put was sent). A write whose outcome is unknown (no answer) could have, so a pull
 * it overlaps is not counted.
 */
import type { Pull, Write } from '../partition/workload.js';

export interface MissingPulls {
  /** Pulls made while their tag's value was an acknowledged put (served or not). */
  acknowledged: number;
  /** 404s of acknowledged content whose error said a region that might hold it could not be asked (it was down). */
  unreachable: Pull[];
  /** 404s of acknowledged content while every region answered: the registry should have served them. */
  unexplained: Pull[];
}

/** The put that is unambiguously the tag's value during `pull`, if there is one. */
function settledPut(writes: Write[], pull: Pull): Write | undefined {
  const mine = writes.filter((w) => w.repo === pull.repo && w.tag === pull.tag && w.sent < pull.end);
  const before = mine.filter((w) => w.acked !== undefined && w.acked < pull.start);
  const last = before.reduce<Write | undefined>(
    (a, w) => (a === undefined || (w.acked as number) > (a.acked as number) ? w : a),
    undefined,
  );
  if (last?.kind !== 'put') return undefined;
  const older = (w: Write): boolean => w === last || (w.acked !== undefined && w.acked < last.sent);
  return mine.every(older) ? last : undefined;
}

export function missingPulls(writes: Write[], pulls: Pull[]): MissingPulls {
  const settled = pulls.filter((p) => settledPut(writes, p) !== undefined);
  const counted = settled.filter((p) => p.outcome === 'missing');
  const said = (p: Pull): boolean => /unreachable/.test(p.detail ?? '');
  return { acknowledged: settled.length, unreachable: counted.filter(said), unexplained: counted.filter((p) => !said(p)) };
}
